"""tasks.verification: verdicts from the real sandbox, time-limit scaling, the timeout re-check."""

from __future__ import annotations

import pytest

import sandbox
from sandbox.types import AssertTests, CallTests, Limits
from tasks import verification
from tasks.records import Verdict
from tasks.verification import scaled_time_limits, verify


def test_no_tests_is_a_passing_no_tests_verdict():
    assert verify("x = 1", None) == Verdict(passed=True, status="no_tests", tests_total=0, tests_passed=0)


def test_verdict_counts_and_first_failure():
    verdict = verify(
        "def add(a, b):\n    return a + b\n",
        AssertTests(("assert add(1, 2) == 3", "assert add(1, 2) == 4", "assert add(0, 0) == 0")),
    )
    assert (verdict.passed, verdict.status, verdict.tests_total, verdict.tests_passed) == (False, "failed", 3, 2)
    assert verdict.first_failure == "test 1: failed: expected 4, got 3"
    assert verdict.duration_ms > 0


def test_call_tests_with_positional_time_limits():
    verdict = verify("def f(x):\n    return x\n", CallTests("f", ((1,), (2,)), expected=(1, 2)), (1.0, 1.0))
    assert verdict.passed and verdict.tests_passed == 2


def test_scaled_time_limits_follow_evalplus():
    assert scaled_time_limits([0.001, 0.5, 2.0], factor=4.0, floor_s=1.0) == (1.0, 2.0, 8.0)
    assert scaled_time_limits([-1.0]) == (verification.DEFAULT_TIME_FLOOR_S,)
    with pytest.raises(ValueError):
        scaled_time_limits([1.0], factor=0)


def test_a_timeout_is_rechecked_once_before_it_counts(monkeypatch):
    calls = []
    real_execute = sandbox.execute

    def counting_execute(request):
        calls.append(request)
        return real_execute(request)

    monkeypatch.setattr(sandbox, "execute", counting_execute)
    verdict = verify(
        "def f():\n    while True:\n        pass\n",
        AssertTests(("f()",)),
        (0.3,),
        limits=Limits(timeout_s=0.3),
    )
    assert verdict.status == "timeout"
    assert len(calls) == 2 and calls[0] == calls[1]

    calls.clear()
    assert verify("def f():\n    return 1\n", AssertTests(("assert f() == 1",))).passed
    assert len(calls) == 1  # only timeouts are re-checked
