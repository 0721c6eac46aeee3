"""The verdict cache in front of the real sandbox: what it runs, what it serves, what it never keeps."""

from __future__ import annotations

from sandbox.types import AssertTests, Limits
from tasks.records import Verdict
from tasks.verdict_cache import CachedVerifier, VerdictCache, verdict_key

TESTS = AssertTests(asserts=("assert add(1, 2) == 3", "assert add(0, 0) == 0"))
GOOD = "def add(a, b):\n    return a + b\n"
BAD = "def add(a, b):\n    return a - b\n"


def test_identical_verification_runs_once_and_the_cache_survives_the_process(tmp_path):
    verifier = CachedVerifier(VerdictCache(tmp_path))
    first = verifier(GOOD, TESTS, None)
    again = verifier(GOOD, TESTS, None)
    assert first.passed and again == first
    assert (verifier.executions, verifier.hits) == (1, 1)
    failing = verifier(BAD, TESTS, None)
    assert not failing.passed and failing.tests_passed == 1
    assert verifier.executions == 2
    # A new process (a new verifier on the same directory) executes nothing.
    fresh = CachedVerifier(VerdictCache(tmp_path))
    assert fresh(BAD, TESTS, None) == failing and (fresh.executions, fresh.hits) == (0, 1)


def test_key_changes_with_everything_that_decides_a_verdict():
    base = verdict_key(GOOD, TESTS, None)
    assert base == verdict_key(GOOD, AssertTests(asserts=tuple(TESTS.asserts)), None)  # equal suites
    assert base != verdict_key(BAD, TESTS, None)
    assert base != verdict_key(GOOD, AssertTests(asserts=TESTS.asserts[:1]), None)
    assert base != verdict_key(GOOD, TESTS, (1.0, 1.0))
    assert base != verdict_key(GOOD, TESTS, None, Limits(memory_mb=256))


def test_sandbox_failures_are_never_cached(tmp_path):
    calls = []

    def flaky_verify(program, tests, time_limits_s=None, limits=None, imports="none"):
        calls.append(program)
        return Verdict(passed=False, status="crashed", tests_total=2, tests_passed=0)

    verifier = CachedVerifier(VerdictCache(tmp_path), flaky_verify)
    verifier(GOOD, TESTS, None)
    verifier(GOOD, TESTS, None)
    assert len(calls) == 2 and verifier.hits == 0 and VerdictCache(tmp_path).entries() == 0


OUTPUTS = (
    "def f(x):\n"
    "    if x == 9:\n"
    "        while True:\n"
    "            pass\n"
    "    return [x, (x, 'a'), {x, -x}, {'k': b'\\x00'}, float('nan'), 2 ** 80, 1j * x, None]\n"
)


def test_call_outputs_are_cached_with_their_types_but_never_a_timeout(tmp_path):
    from sandbox.types import CallTests

    tests = CallTests("f", ((1,), (2,)))
    limits = Limits(timeout_s=0.5)
    verifier = CachedVerifier(VerdictCache(tmp_path))
    statuses, values = verifier.run_calls(OUTPUTS, tests, limits=limits, stop_at_timeout=True)
    assert statuses == ("passed", "passed")
    fresh = CachedVerifier(VerdictCache(tmp_path))  # another process: nothing runs
    again_statuses, again_values = fresh.run_calls(OUTPUTS, tests, limits=limits, stop_at_timeout=True)
    assert (fresh.executions, fresh.hits) == (0, 1) and again_statuses == statuses
    for got, want in zip(again_values, values):
        assert [type(v) for v in got] == [type(v) for v in want]
        assert got[:4] == want[:4] and got[5:] == want[5:] and got[4] != got[4]  # NaN stays NaN
    # Whether the run stops at a timeout is part of the key: the full run is its own entry.
    fresh.run_calls(OUTPUTS, tests, limits=limits)
    assert fresh.executions == 1
    # A run with a timeout (not re-checked against load) is never kept: it runs again.
    looping = CallTests("f", ((1,), (9,), (2,)))
    first, _ = fresh.run_calls(OUTPUTS, looping, limits=limits, stop_at_timeout=True)
    assert first == ("passed", "timeout", "no_result")
    fresh.run_calls(OUTPUTS, looping, limits=limits, stop_at_timeout=True)
    assert fresh.executions == 3


def test_lookup_serves_known_verdicts_and_runs_nothing(tmp_path):
    ran = []

    def counted_verify(program, tests, time_limits_s=None, limits=None, imports="none"):
        ran.append(program)
        return Verdict(passed=True, status="passed", tests_total=2, tests_passed=2)

    verifier = CachedVerifier(VerdictCache(tmp_path), counted_verify)
    assert verifier.lookup(GOOD, TESTS, None) is None and ran == []  # unknown: nothing runs
    verdict = verifier(GOOD, TESTS, None)
    assert verifier.lookup(GOOD, TESTS, None) == verdict
    assert verifier.lookup(GOOD, TESTS, (1.0, 1.0)) is None  # other limits, other verdict
    assert verifier.lookup(GOOD, TESTS, None, limits=Limits(memory_mb=256)) is None
    assert verifier.lookup(GOOD, None, None) is None  # nothing to run: never looked up
    assert ran == [GOOD] and (verifier.executions, verifier.hits) == (1, 1)


def test_lookup_calls_serves_known_call_runs_and_runs_nothing(tmp_path):
    from sandbox.types import CallTests

    tests, limits = CallTests("f", ((1,), (2,))), Limits(timeout_s=0.5)
    verifier = CachedVerifier(VerdictCache(tmp_path))
    assert verifier.lookup_calls(OUTPUTS, tests, limits=limits, stop_at_timeout=True) is None
    assert verifier.executions == 0  # unknown: nothing ran
    statuses, values = verifier.run_calls(OUTPUTS, tests, limits=limits, stop_at_timeout=True)
    known = verifier.lookup_calls(OUTPUTS, tests, limits=limits, stop_at_timeout=True)
    assert known is not None and known[0] == statuses and known[1][1][:4] == values[1][:4]
    assert verifier.lookup_calls(OUTPUTS, tests, limits=limits) is None  # the full run: its own entry
    assert verifier.lookup_calls(OUTPUTS, tests, limits=Limits(timeout_s=1.0), stop_at_timeout=True) is None
    assert verifier.lookup_calls(OUTPUTS, CallTests("f", ()), limits=limits) == ((), ())  # nothing to run
    assert (verifier.executions, verifier.hits) == (1, 1)
    looping = CallTests("f", ((9,),))
    verifier.run_calls(OUTPUTS, looping, limits=limits, stop_at_timeout=True)
    # A run with a timeout is never kept, so never known.
    assert verifier.lookup_calls(OUTPUTS, looping, limits=limits, stop_at_timeout=True) is None
