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


def test_only_a_starved_or_unaccounted_timeout_is_rechecked(monkeypatch):
    import dataclasses

    calls = []
    real_execute = sandbox.execute
    starved_flag = {"value": "real"}

    def counting_execute(request):
        calls.append(request)
        result = real_execute(request)
        if starved_flag["value"] != "real":
            result = dataclasses.replace(result, timeout_starved=starved_flag["value"])
        return result

    monkeypatch.setattr(sandbox, "execute", counting_execute)
    sleeper = "import time\ndef f():\n    time.sleep(30)\n"
    tests, limits = AssertTests(("f()",)), Limits(timeout_s=0.3)
    # Asleep on its own: the sandbox saw it never wait for a core, so the timeout is final.
    verdict = verify(sleeper, tests, (0.3,), limits=limits)
    assert verdict.status == "timeout" and len(calls) == 1
    first = calls[0]
    for flag, runs in ((True, 2), (None, 2), (False, 1)):
        calls.clear()
        starved_flag["value"] = flag
        assert verify(sleeper, tests, (0.3,), limits=limits).status == "timeout"
        assert len(calls) == runs and all(call == first for call in calls), flag

    calls.clear()
    starved_flag["value"] = "real"
    assert verify("def f():\n    return 1\n", AssertTests(("assert f() == 1",))).passed
    assert len(calls) == 1  # only timeouts are re-checked


def test_timeouts_say_whether_the_process_waited_for_a_core():
    from sandbox.types import ExecutionRequest

    result = sandbox.execute(
        ExecutionRequest("import time\ndef f():\n    time.sleep(30)\n", AssertTests(("f()",)), Limits(timeout_s=1.0))
    )
    assert result.status == "timeout" and result.timeout_starved is False
    assert result.timeout_cpu_s is not None and result.timeout_cpu_s < 0.5
