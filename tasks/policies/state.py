"""A policy's state and the phases it moves through.

A policy is a pure transition function ``next_phase(state) -> phase``; the driver
(``tasks.policies.driver``) performs each phase's model call or sandbox run and folds the
result into a new state. The budget (how many plans are left) lives in the state, so a reader
sees a policy's whole behaviour in its transition function.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tasks.policies.params import Param, check_params
from tasks.records import PolicySpec, Verdict

START = "start"
GENERATE = "generate"  # generator writes a program from the problem alone
PLAN = "plan"  # planner decomposes the problem (after a failed trial, or before any for pbt)
IMPLEMENT = "implement"  # generator writes a program from the problem and the plan
VERIFY = "verify"  # run the current program on the tests the policy may see
DONE = "done"

MODEL_PHASES = {GENERATE: "generator", PLAN: "planner", IMPLEMENT: "generator"}


@dataclass(frozen=True)
class PolicyState:
    phase: str = START  # the phase just performed
    program: str | None = None  # current candidate program
    plan: str | None = None
    verdict: Verdict | None = None  # verdict of the current program on public tests
    plans_made: int = 0
    trials: int = 0  # programs written (generate or implement)
    best_program: str | None = None  # best program so far by public tests passed
    best_tests_passed: int = -1
    improved: bool = False  # the last verification passed more public tests than any before
    model_error: str | None = None  # a model call failed after all retries

    def after(self, phase: str, **changes) -> "PolicyState":
        return replace(self, phase=phase, **changes)


class Policy:
    """Base class: a named, parameterised transition function."""

    name = "policy"
    uses_planner = False
    PARAMS: tuple[Param, ...] = ()  # every parameter the policy reads, with its default and source

    def __init__(self, spec: PolicySpec):
        self.spec = spec
        self.params = check_params(spec.name, self.PARAMS, spec.params)  # raises PolicyParamError

    def next_phase(self, state: PolicyState) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def final_program(state: PolicyState) -> str | None:
        """The program submitted for the hidden tests."""
        if state.verdict is not None and state.verdict.passed:
            return state.program
        return state.best_program if state.best_program is not None else state.program
