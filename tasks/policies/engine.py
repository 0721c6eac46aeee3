"""The action/observation engine every policy is written against.

A policy is a small state machine with two pure methods:

- ``start(problem, seed) -> state``
- ``step(state, observation) -> (state, action)`` — ``observation`` is ``None`` on the first
  step, then the observation of the action the policy returned last.

An action says what the policy wants done; the driver (``tasks.policies.driver``) performs it
and answers with the matching observation:

==============  =====================================================  =================
action          what the driver does                                    observation
==============  =====================================================  =================
``Generate``    ``n`` samples from the role's model (sample 0..n-1)     ``Generated``
``Verify``      each program on ``tests`` in the sandbox, concurrently  ``Verified``
``Execute``     each program on call inputs, no expected values         ``Executed``
``Submit``      ends the loop; the program goes to the hidden tests     —
==============  =====================================================  =================

A policy never performs I/O and never sees a hidden test: the driver hands it only what its own
actions produced. Budgets, attempts and (for tree policies) the tree live in the state, so every
transition is testable with a scripted model and no sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.types import CallTests, TestSpec
from tasks.policies.params import Param, check_params
from tasks.records import PolicySpec, Problem, Verdict

GENERATOR = "generator"
PLANNER = "planner"
TEST_SOURCES = ("generated", "public", "both")


@dataclass(frozen=True)
class NodeRef:
    """Where in a policy's tree an action happens (flat policies: the root, attempt 0)."""

    node_id: str = "root"
    parent_node_id: str | None = None
    depth: int = 0
    attempt: int = 0  # decomposition attempt (PaT), repair round (self_debug), re-ask number


ROOT = NodeRef()


# --------------------------------------------------------------------------- actions
@dataclass(frozen=True)
class Generate:
    """Ask the ``role``'s model for ``n`` samples of one request.

    ``kind`` is the request kind recorded on the call rows (generate, write_tests, decompose,
    repair, ...) and handed to the simulator explicitly, with ``target`` (the function the
    request is about) and ``context`` (extra facts a simulator may use, never hidden tests).
    """

    role: str
    kind: str
    messages: tuple[tuple[str, str], ...]
    n: int
    temperature: float
    node: NodeRef = ROOT
    prompt_sha256: str = ""
    target: str = ""
    max_tokens: int = 1024
    first_sample_index: int = 0  # a re-ask continues the indices, so it gets new samples
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Verify:
    """Run each program on ``tests``; ``test_source`` names where the tests came from."""

    programs: tuple[str, ...]
    tests: TestSpec | None
    test_source: str
    node: NodeRef = ROOT
    time_limits_s: tuple[float, ...] | None = None
    # The candidate number of each program in the records (default 0..len-1): a policy that
    # verifies some of its candidates keeps their numbers.
    sample_indices: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Execute:
    """Run each program on ``tests.inputs`` and return what each call produced.
    ``stop_at_timeout``: a program's inputs after its first timed-out one are not run
    (``no_result``)."""

    programs: tuple[str, ...]
    tests: CallTests
    node: NodeRef = ROOT
    stop_at_timeout: bool = False
    sample_indices: tuple[int, ...] | None = None  # as Verify's


@dataclass(frozen=True)
class Submit:
    """The policy is done: ``program`` is scored on the hidden tests; the rest is recorded."""

    program: str | None
    accepted_unverified: bool = False
    selected_on: str = ""  # the test source the submission was selected on, "" if none
    selected_tests_total: int = 0
    selected_tests_passed: int = 0
    root_trial_passed: bool | None = None
    tree_json: str = ""
    nodes: int = 1
    max_depth: int = 0
    decompositions: int = 0
    reverts: int = 0
    error: str | None = None  # why the policy stopped early (a failed model call), if it did


Action = Generate | Verify | Execute | Submit


# --------------------------------------------------------------------------- observations
@dataclass(frozen=True)
class Generated:
    texts: tuple[str, ...]  # one per sample; "" where the call failed
    errors: tuple[str | None, ...]  # the call's error after all retries, per sample

    @property
    def first_error(self) -> str | None:
        return next((error for error in self.errors if error), None)

    @property
    def all_failed(self) -> bool:
        return bool(self.errors) and all(self.errors)


@dataclass(frozen=True)
class Verified:
    verdicts: tuple[Verdict, ...]  # one per program, in order


@dataclass(frozen=True)
class CandidateOutputs:
    statuses: tuple[str, ...]  # per input: "passed" (the call returned) or the failure status
    values: tuple[Any, ...]  # per input: the returned value (None where the call failed)


@dataclass(frozen=True)
class Executed:
    outputs: tuple[CandidateOutputs, ...]  # one per program, in order


Observation = Generated | Verified | Executed


# --------------------------------------------------------------------------- policies
class Policy:
    """Base class: a named, parameterised state machine (see the module docstring)."""

    name = "policy"
    uses_planner = False
    PARAMS: tuple[Param, ...] = ()  # every parameter the policy reads, with default and source

    def __init__(self, spec: PolicySpec):
        self.spec = spec
        self.params = check_params(spec.name, self.PARAMS, spec.params)  # raises PolicyParamError

    def start(self, problem: Problem, seed: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, state: Any, observation: Observation | None) -> tuple[Any, Action]:  # pragma: no cover
        raise NotImplementedError

