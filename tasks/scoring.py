"""Scoring: a program on a problem's hidden suites, and the one rule for per-test time limits.

``score_program(program, problem, verify) -> Score`` is the score of record wherever a program
is scored (``patflow evaluate``, the benchmark self-check, the policy driver after its loop):
- every hidden suite runs (each suite is its own number: HumanEval and HumanEval+ from one
  run), in the problem's order, with ``suite_time_limits``;
- a program passes iff it has at least one hidden suite and passes every one;
- ``status`` is "passed", the first failing suite's status, or "no_hidden_tests";
- ``verify`` raising is a harness failure, recorded as status ``error:harness`` on that
  suite: never a pass, never an exception out of here.

``verify(program, tests, time_limits_s) -> Verdict`` is injected (``tasks.verification.verify``
with the run's settings, e.g. ``functools.partial(verify, imports="standard")``), so this
module runs no code itself and the caller decides limits, preamble and concurrency.

Time limits (one rule): a suite's limits are its own (``HiddenSuite.time_limits_s``), else the
problem's ``time_limit_s`` per test. Limits measured from a reference run are
``scaled_time_limits``: max(floor_s, factor x reference time), per test — EvalPlus's rule with
its 1 s / 4x widened to 2 s / 6x, which a loaded 2-core machine needs (a 0.37 s reference,
Mbpp/603, measured 0.8-1.6 s in later runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

from sandbox.types import TestSpec
from tasks.records import HiddenSuite, Problem, Verdict

# Wider than EvalPlus's 1 s / 4x (see the module docstring); a runaway program still costs only
# its first timeout, because the sandbox ends a run there.
TIME_LIMIT_FLOOR_S = 2.0
TIME_LIMIT_FACTOR = 6.0
HARNESS_ERROR = "error:harness"  # verify itself raised: a bug in the harness, never the program's verdict
NO_HIDDEN_TESTS = "no_hidden_tests"

Verify = Callable[[str, "TestSpec | None", "tuple[float, ...] | None"], Verdict]
AsyncVerify = Callable[[str, "TestSpec | None", "tuple[float, ...] | None"], Awaitable[Verdict]]


def scaled_time_limits(
    reference_s: Sequence[float],
    *,
    factor: float = TIME_LIMIT_FACTOR,
    floor_s: float = TIME_LIMIT_FLOOR_S,
) -> tuple[float, ...]:
    """Per-test limits from the reference solution's per-test runtimes (seconds)."""
    if factor <= 0 or floor_s <= 0:
        raise ValueError(f"factor and floor_s must be positive (got factor={factor}, floor_s={floor_s})")
    return tuple(max(floor_s, factor * max(0.0, float(seconds))) for seconds in reference_s)


def test_count(tests: TestSpec) -> int:
    """How many tests (verdicts) a spec yields: one per call, assert or stdio case; 1 otherwise."""
    kind = getattr(tests, "kind", "")
    if kind == "call":
        return len(tests.inputs)
    if kind == "asserts":
        return len(tests.asserts)
    if kind == "stdio":
        return len(tests.cases)
    return 1


test_count.__test__ = False  # a helper, not a pytest test, when imported into a test module


def suite_time_limits(problem: Problem, suite: HiddenSuite) -> tuple[float, ...]:
    return suite.time_limits_s or (problem.time_limit_s,) * test_count(suite.tests)


def public_time_limits(problem: Problem) -> tuple[float, ...] | None:
    """Limits for the problem's public tests (None when it has none), by the same rule."""
    if problem.public_tests is None:
        return None
    return problem.public_time_limits_s or (problem.time_limit_s,) * test_count(problem.public_tests)


@dataclass(frozen=True)
class SuiteVerdict:
    suite: str
    verdict: Verdict


@dataclass(frozen=True)
class Score:
    """A program on every hidden suite of one problem."""

    suites: tuple[SuiteVerdict, ...]

    @property
    def passed(self) -> bool:
        return bool(self.suites) and all(s.verdict.passed for s in self.suites)

    @property
    def first_failing(self) -> SuiteVerdict | None:
        return next((s for s in self.suites if not s.verdict.passed), None)

    @property
    def status(self) -> str:
        if not self.suites:
            return NO_HIDDEN_TESTS
        failing = self.first_failing
        return "passed" if failing is None else failing.verdict.status

    @property
    def failed_suite(self) -> str | None:
        failing = self.first_failing
        return None if failing is None else failing.suite

    @property
    def first_failure(self) -> str | None:
        """The first failing suite's first failing test, as ``Verdict.first_failure`` says it."""
        failing = self.first_failing
        return None if failing is None else failing.verdict.first_failure

    @property
    def suites_passed(self) -> tuple[tuple[str, bool], ...]:
        return tuple((s.suite, s.verdict.passed) for s in self.suites)

    @property
    def tests_total(self) -> int:
        return sum(s.verdict.tests_total for s in self.suites)

    @property
    def tests_passed(self) -> int:
        return sum(s.verdict.tests_passed for s in self.suites)

    @property
    def duration_ms(self) -> float:
        return sum(s.verdict.duration_ms for s in self.suites)


def harness_error_verdict(error: BaseException) -> Verdict:
    return Verdict(
        passed=False, status=HARNESS_ERROR, tests_total=0, tests_passed=0,
        first_failure=f"{type(error).__name__}: {error}"[:500],
    )


def score_program(program: str, problem: Problem, verify: Verify) -> Score:
    """``program`` on every hidden suite of ``problem`` (see the module docstring)."""
    suites = []
    for suite in problem.hidden_suites:
        try:
            verdict = verify(program, suite.tests, suite_time_limits(problem, suite))
        except Exception as error:  # noqa: BLE001 - the harness failed, not the program
            verdict = harness_error_verdict(error)
        suites.append(SuiteVerdict(suite.name, verdict))
    return Score(tuple(suites))


async def score_program_async(program: str, problem: Problem, verify: AsyncVerify) -> Score:
    """``score_program`` for callers whose verifier is a coroutine (the policy driver)."""
    suites = []
    for suite in problem.hidden_suites:
        try:
            verdict = await verify(program, suite.tests, suite_time_limits(problem, suite))
        except Exception as error:  # noqa: BLE001 - the harness failed, not the program
            verdict = harness_error_verdict(error)
        suites.append(SuiteVerdict(suite.name, verdict))
    return Score(tuple(suites))
