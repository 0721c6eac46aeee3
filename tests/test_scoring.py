"""tasks.scoring: one score for a program on a problem's hidden suites, with real sandbox runs."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.types import AssertTests, CallTests
from tasks.benchmarks.reference_runs import ReferenceRun
from tasks.benchmarks.selfcheck import check_references
from tasks.evaluation import Sample, evaluate_sample
from tasks.records import DatasetInfo, HiddenSuite, Problem
from tasks.scoring import (
    HARNESS_ERROR,
    TIME_LIMIT_FACTOR,
    TIME_LIMIT_FLOOR_S,
    public_time_limits,
    scaled_time_limits,
    score_program,
    score_program_async,
    suite_time_limits,
    test_count,
)
from tasks.verification import verify

SQUARE = "def square(x):\n    return x * x\n"
SQUARE_WRONG_ON_NEGATIVES = "def square(x):\n    return x * x if x >= 0 else 0\n"


def make_problem(*suites: HiddenSuite, time_limit_s: float = 5.0, reference: str | None = SQUARE) -> Problem:
    return Problem(
        task_id="t/0",
        prompt="def square(x):\n",
        entry_point="square",
        public_tests=CallTests("square", ((2,),), (4,)),
        hidden_suites=suites,
        reference_solution=reference,
        test_format="call",
        dataset=DatasetInfo("tiny", "1", "0" * 64),
        time_limit_s=time_limit_s,
    )


BASE = HiddenSuite("base", CallTests("square", ((1,), (3,)), (1, 9)))
PLUS = HiddenSuite("plus", CallTests("square", ((-2,), (5,), (0,)), (4, 25, 0)))


@pytest.fixture(autouse=True)
def no_timeout_recheck(monkeypatch):
    monkeypatch.setenv("PATFLOW_NO_TIMEOUT_RECHECK", "1")  # a test's timeouts are meant, not load


def test_a_correct_program_passes_every_suite_with_totals():
    score = score_program(SQUARE, make_problem(BASE, PLUS), verify)
    assert score.passed and score.status == "passed"
    assert score.suites_passed == (("base", True), ("plus", True))
    assert (score.tests_total, score.tests_passed) == (5, 5)
    assert score.failed_suite is None and score.first_failure is None
    assert score.duration_ms > 0


def test_the_first_failing_suite_decides_status_and_every_suite_still_runs():
    score = score_program(SQUARE_WRONG_ON_NEGATIVES, make_problem(BASE, PLUS), verify)
    assert not score.passed and score.status == "failed"
    assert score.suites_passed == (("base", True), ("plus", False))
    assert score.failed_suite == "plus"
    assert score.first_failure.startswith("test 0: failed")
    assert (score.tests_total, score.tests_passed) == (5, 4)  # plus ran to the end: 2 of 3 passed


def test_an_error_status_comes_from_the_sandbox():
    score = score_program("def square(x):\n    return x / 0\n", make_problem(BASE), verify)
    assert score.status == "error:ZeroDivisionError" and not score.passed


def test_no_hidden_suites_is_not_a_pass():
    score = score_program(SQUARE, make_problem(), verify)
    assert not score.passed and score.status == "no_hidden_tests" and score.suites == ()


def test_verify_raising_is_a_harness_error_on_that_suite_only():
    def flaky_verify(program, tests, time_limits_s):
        if tests is PLUS.tests:
            raise RuntimeError("sandbox fell over")
        return verify(program, tests, time_limits_s)

    score = score_program(SQUARE, make_problem(BASE, PLUS), flaky_verify)
    assert not score.passed and score.status == HARNESS_ERROR and score.failed_suite == "plus"
    assert score.suites_passed == (("base", True), ("plus", False))
    assert "RuntimeError: sandbox fell over" in score.first_failure


def test_the_async_variant_scores_alike():
    async def averify(program, tests, time_limits_s):
        return await asyncio.to_thread(verify, program, tests, time_limits_s)

    problem = make_problem(BASE, PLUS)
    sync_score = score_program(SQUARE_WRONG_ON_NEGATIVES, problem, verify)
    async_score = asyncio.run(score_program_async(SQUARE_WRONG_ON_NEGATIVES, problem, averify))
    assert [(s.suite, s.verdict.status, s.verdict.tests_passed) for s in async_score.suites] == [
        (s.suite, s.verdict.status, s.verdict.tests_passed) for s in sync_score.suites
    ]


SLEEPY = "import time\n\ndef square(x):\n    time.sleep(0.6)\n    return x * x\n"


def test_a_suite_without_limits_gets_the_problems_limit_per_test():
    suite = HiddenSuite("base", CallTests("square", ((1,), (2,)), (1, 4)))
    assert suite_time_limits(make_problem(suite, time_limit_s=0.25), suite) == (0.25, 0.25)
    assert score_program(SLEEPY, make_problem(suite, time_limit_s=0.25), verify).status == "timeout"
    assert score_program(SLEEPY, make_problem(suite, time_limit_s=3.0), verify).passed
    own = HiddenSuite("base", suite.tests, (3.0, 3.0))  # a suite's own limits win
    assert score_program(SLEEPY, make_problem(own, time_limit_s=0.25), verify).passed


def test_evaluate_and_selfcheck_score_with_the_same_limits():
    """The three scorers were three copies; a suite without limits split them (evaluate ran it at
    the sandbox's 5 s default, the self-check at the problem's limit)."""
    suite = HiddenSuite("base", CallTests("square", ((1,), (2,)), (1, 4)))
    problem = make_problem(suite, time_limit_s=0.25, reference=SLEEPY)
    row = evaluate_sample(Sample(0, problem.task_id, SLEEPY), problem, verify)
    (check,) = check_references([problem])
    assert row["status"] == "timeout" and not row["passed"]
    assert check.suites[0][:2] == ("base", False) and check.suites[0][2].startswith("timeout")


def test_scaled_time_limits_is_the_reference_runs_rule():
    assert scaled_time_limits([0.01, 1.0]) == (TIME_LIMIT_FLOOR_S, TIME_LIMIT_FACTOR * 1.0)
    assert scaled_time_limits([0.5, 2.0], factor=4.0, floor_s=1.0) == (2.0, 8.0)
    run = ReferenceRun(("passed",) * 3, None, (0.01, 1.0, 0.5))
    assert run.time_limits_s([0, 1]) == scaled_time_limits([0.01, 1.0])
    with pytest.raises(ValueError):
        scaled_time_limits([1.0], floor_s=0)


def test_public_time_limits_follow_the_same_rule():
    problem = make_problem(BASE, time_limit_s=1.5)
    assert public_time_limits(problem) == (1.5,)
    assert public_time_limits(Problem(**{**problem.__dict__, "public_time_limits_s": (4.0,)})) == (4.0,)
    assert public_time_limits(Problem(**{**problem.__dict__, "public_tests": None})) is None
    assert test_count(AssertTests(("assert 1", "assert 2"))) == 2

