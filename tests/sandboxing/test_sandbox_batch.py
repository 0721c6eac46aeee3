"""Batched candidate calls (``sandbox/_child/child_plan.py``): same verdicts as round trips.

Each case runs twice, with batching on and off (``sandbox.executor.BATCH_CALLS``), and the two
results must agree test by test (status and detail). Hostile programs aimed at the batch live
in the jailed conformance table.
"""

from __future__ import annotations

import pytest

from sandbox import _child, executor
from sandbox.types import AssertTests, CheckFunctionTests, ExecutionRequest, Limits

FAST = Limits(timeout_s=5.0)


def both(program: str, tests):
    """(batched result, round-trip result)."""
    results = []
    for batch in (True, False):
        saved = executor.BATCH_CALLS
        executor.BATCH_CALLS = batch
        try:
            results.append(executor.execute(ExecutionRequest(program, tests, FAST)))
        finally:
            executor.BATCH_CALLS = saved
    return results


def verdicts(result):
    return result.status, [(t.index, t.status, t.detail) for t in result.tests]


def assert_same(program: str, tests) -> object:
    batched, round_trips = both(program, tests)
    assert verdicts(batched) == verdicts(round_trips)
    return batched


STRAIGHT = (
    "import math\n"
    "def check(candidate):\n"
    "    assert candidate(2, 3) == 5\n"
    "    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9\n"
    "    assert math.isclose(candidate(-1, 1), 0.0)\n"
    "    assert candidate([1], [2]) == [1, 2], 'lists add'\n"
)


def test_a_straight_line_check_is_planned_and_gives_the_round_trip_verdicts():
    plan = _child.plan_check(STRAIGHT)
    assert plan is not None and len(plan["calls"][0]) == 4
    assert plan["names"] == ("abs", "math") and plan["chains"] == (("math", "isclose"),)
    good = assert_same("def add(a, b):\n    return a + b\n", CheckFunctionTests(STRAIGHT, "add"))
    assert good.status == "passed"
    bad = assert_same("def add(a, b):\n    return a - b if a == 2 else a + b\n", CheckFunctionTests(STRAIGHT, "add"))
    assert bad.status == "failed" and bad.tests[0].detail == "expected 5, got -1"
    raising = assert_same("def add(a, b):\n    if isinstance(a, list):\n        raise KeyError(a)\n    return a + b\n",
                          CheckFunctionTests(STRAIGHT, "add"))
    assert raising.status == "error:KeyError"


def test_a_check_with_a_loop_or_a_branch_is_not_planned_and_still_judged():
    looped = "def check(candidate):\n    for i in range(5):\n        assert candidate(i, 1) == i + 1\n"
    branched = "def check(candidate):\n    assert candidate(1, 1) == 2 or candidate(2, 2) == 4\n    assert candidate(3, 3) == 6\n"
    skipped = "def check(candidate):\n    assert D[0] == candidate(1, 1)\n    assert candidate(3, 3) == 6\n"
    for check in (looped, branched, skipped):
        assert _child.plan_check(check) is None
    assert assert_same("def add(a, b):\n    return a + b\n", CheckFunctionTests(looped, "add")).status == "passed"
    assert assert_same("def add(a, b):\n    return a + b\n", CheckFunctionTests(skipped, "add")).status == "error:NameError"


def test_a_stateful_candidate_sees_the_calls_in_the_sequential_order():
    # Each answer depends on every call before it: any reordering or extra call changes them.
    program = "SEEN = []\ndef f(x):\n    SEEN.append(x)\n    return sum(SEEN)\n"
    check = "def check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) == 3\n    assert candidate(4) == 7\n"
    assert _child.plan_check(check) is not None
    assert assert_same(program, CheckFunctionTests(check, "f")).status == "passed"
    asserts = AssertTests(("assert f(1) == 1", "assert f(5) == 7", "assert f(2) == 8", "assert f(3) == 11"), entry_point="f")
    assert _child.plan_asserts(asserts.asserts, "f") is not None
    result = assert_same(program, asserts)
    assert [t.status for t in result.tests] == ["passed", "failed", "passed", "passed"]


def test_a_handle_ends_the_batch_and_its_questions_come_in_order():
    program = (
        "LOG = []\n"
        "class Box:\n"
        "    def __init__(self, v):\n        self.v = v\n"
        "    def __len__(self):\n        LOG.append('len')\n        return len(LOG)\n"
        "def make(v):\n    LOG.append(v)\n    return Box(v) if v == 2 else len(LOG)\n"
    )
    check = (
        "def check(candidate):\n"
        "    assert candidate(1) == 1\n"
        "    assert len(candidate(2)) == 3\n"  # the handle's len() is asked before make(5) runs
        "    assert candidate(5) == 4\n"
    )
    assert _child.plan_check(check) is not None
    assert assert_same(program, CheckFunctionTests(check, "make")).status == "passed"


def test_mutated_arguments_and_asserts_from_a_later_start_match_round_trips():
    program = "def push(xs, x):\n    xs.append(x)\n    return len(xs)\n"
    asserts = AssertTests(
        ("assert push([1], 2) == 2", "assert push([], 'a') == 1", "assert push([0, 0], None) == 2", "assert push([], 1) == 1"),
        entry_point="push",
    )
    assert _child.plan_asserts(asserts.asserts, "push") is not None
    result = assert_same(program, asserts)
    assert [t.status for t in result.tests] == ["passed", "passed", "failed", "passed"]
    # A call that never returns: the candidate is stuck on it in both paths, and the run ends there.
    slow = "import time\ndef push(xs, x):\n    if x == 'a':\n        time.sleep(30)\n    xs.append(x)\n    return len(xs)\n"
    saved, executor.BATCH_CALLS = executor.BATCH_CALLS, True
    try:
        result = executor.execute(ExecutionRequest(slow, asserts, Limits(timeout_s=0.5)))
    finally:
        executor.BATCH_CALLS = saved
    assert [t.status for t in result.tests][:2] == ["passed", "timeout"]
    assert "passed" not in [t.status for t in result.tests][2:]


def test_names_the_plan_relies_on_are_checked_in_the_judge():
    # ``helper`` is the program's (a handle): the plan exists, but the judge must not use it.
    program = "def helper(x):\n    return x\ndef f(x):\n    return x * 2\n"
    check = "def check(candidate):\n    assert candidate(1) == helper(2)\n    assert candidate(5) == helper(10)\n"
    assert _child.plan_check(check) is not None
    assert assert_same(program, CheckFunctionTests(check, "f")).status == "passed"
    named_like_a_builtin = "def abs(x):\n    return 1\ndef f(x):\n    return x\n"
    check = "def check(candidate):\n    assert abs(candidate(-1)) == 1\n    assert abs(candidate(-3)) == 3\n"
    assert assert_same(named_like_a_builtin, CheckFunctionTests(check, "f")).status == "passed"


@pytest.mark.parametrize(
    "check",
    [
        "def check(candidate):\n    assert candidate(2) == 20\n    assert candidate(20) == 200\n",
        "def check(candidate):\n    assert candidate('ab') == 'hello'\n    assert candidate('say hello') == 'x'\n",
        "def check(candidate):\n    assert candidate(1) == [7, 8]\n    assert candidate([[7, 8]]) == 0\n",
        # a forger converts: 9.0 is the later 9, the tuple (7, 8) the later list, 5 is in [4, 5]
        "def check(candidate):\n    assert candidate(3) == 9.0\n    assert candidate(9) == 3.0\n",
        "def check(candidate):\n    assert candidate(1) == (7, 8)\n    assert candidate([7, 8]) == 0\n",
        "def check(candidate):\n    assert candidate(1) == [4, 5]\n    assert candidate(5) == 0\n",
    ],
)
def test_no_batch_when_a_later_argument_holds_an_expected_value(check):
    assert _child.plan_check(check) is None


def test_small_values_count_too():
    # f(3) == 9, f(9) == 3: a batch would let a program answer each call with the other's argument.
    assert _child.plan_check("def check(candidate):\n    assert candidate(3) == 9\n    assert candidate(9) == 3\n") is None
    assert _child.plan_check("def check(candidate):\n    assert candidate(9) == 9\n    assert candidate(3) == 9\n") is not None


def test_an_expected_value_the_candidate_already_saw_does_not_block_a_batch():
    # 'xxx' is in the first call's own arguments: a round trip shows it as early as a batch.
    check = (
        "def check(candidate):\n"
        "    assert candidate(['xxx', 'asd'], 'xxx') == ['xxx']\n"
        "    assert candidate(['xxxAAA', 'xxx'], 'xx') == ['xxxAAA', 'xxx']\n"
    )
    assert _child.plan_check(check) is not None


def test_a_module_answer_ends_the_batch_too():
    # A module the judge cannot import stays a handle; asking it for an attribute is a request.
    program = (
        "import types\nCALLS = []\n"
        "def f(x):\n    CALLS.append(x)\n    return types.ModuleType('not_importable') if x == 2 else len(CALLS)\n"
    )
    asserts = AssertTests(("assert f(1) == 1", "assert f(2).x == 5", "assert f(4) == 3"), entry_point="f")
    assert _child.plan_asserts(asserts.asserts, "f") is not None
    result = assert_same(program, asserts)
    assert [t.status for t in result.tests] == ["passed", "error:LookupError", "passed"]


def test_builtins_that_reach_other_names_keep_round_trips():
    # eval reaches the candidate by a name the plan never saw: the judge must not batch.
    program = "def f(x):\n    return x + 1\n"
    check = "def check(candidate):\n    assert candidate(1) == 2\n    assert eval('candidate(5)', {'candidate': candidate}) == 6\n"
    assert _child.plan_check(check) is None  # ``candidate`` passed around
    asserts = AssertTests(("assert f(1) == 2", "assert eval('f(5)') == 6", "assert f(7) == 8"), entry_point="f")
    assert _child.plan_asserts(asserts.asserts, "f") is not None
    result = assert_same(program, asserts)
    assert result.status == "passed"
    # The same through the builtins module, after the call.
    asserts = AssertTests(
        ("assert f(1) == 2", "assert f(3) == builtins.eval('f(5)') - 2", "assert f(7) == 8"),
        entry_point="f", imports="import builtins",
    )
    assert _child.plan_asserts(asserts.asserts, "f") is not None
    assert assert_same(program, asserts).status == "passed"
