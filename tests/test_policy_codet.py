"""codet transitions with scripted answers: dual agreement (and pass count) pick the winners of
a hand-computed example; the code-call budget holds."""

from __future__ import annotations

import pytest

from policy_steps import Steps, by_program, code
from tasks.policies.codet import CodeT
from tasks.policies.engine import Verify
from tasks.records import PolicySpec

TESTS = "```python\nassert f(1) == 2\nassert f(2) == 3\nassert f(3) == 4\nassert f(0) == 0\n```"
SAMPLES = tuple(code(f"return x + 1  # C{i}") for i in range(5))
# Which of the 4 generated tests each candidate passes (as in test_policy_selection):
#   C0 {0,1,2}, C1 {0,1,2}  -> consensus set of 2 candidates x 3 tests = 6
#   C2 {0,1,2,3}            -> 1 x 4 = 4 (the most tests passed)
#   C3 {3}, C4 {3}          -> 2 x 1 = 2
PASSES = {
    "# C0": ("passed", "passed", "passed", "failed"),
    "# C1": ("passed", "passed", "passed", "failed"),
    "# C2": ("passed", "passed", "passed", "passed"),
    "# C3": ("failed", "failed", "failed", "passed"),
    "# C4": ("failed", "failed", "failed", "passed"),
}


def policy(**params) -> CodeT:
    return CodeT(PolicySpec("codet", tuple(sorted(params.items()))))


@pytest.mark.parametrize(("scoring", "winner", "passed"), [("dual", "# C0", 3), ("pass_count", "# C2", 4)])
def test_selection_picks_the_hand_computed_winner(scoring, winner, passed):
    steps = Steps(answers={"generate": [SAMPLES], "write_tests": [(TESTS,)]}, verify=by_program(PASSES))
    submit = steps.run(policy(n=5, scoring=scoring))
    assert winner in submit.program
    assert (submit.selected_on, submit.selected_tests_total, submit.selected_tests_passed) == ("generated", 4, passed)
    assert steps.kinds() == ["generate", "write_tests"]
    [verify] = steps.of(Verify)
    assert len(verify.programs) == 5 and verify.test_source == "generated"


def test_too_few_usable_samples_re_ask_within_the_code_call_budget():
    broken = ("no code here",) * 3
    steps = Steps(
        answers={"generate": [SAMPLES[:1] + broken[:2], broken, broken], "write_tests": [(TESTS,)]},
        verify=by_program(PASSES),
    )
    submit = steps.run(policy(n=3, min_samples=2, code_calls=3))
    assert steps.kinds() == ["generate", "generate", "generate", "write_tests"]  # 3 calls at most
    assert "# C0" in submit.program


def test_enough_usable_samples_stop_re_asking():
    steps = Steps(
        answers={"generate": [SAMPLES[:3], SAMPLES[3:] + ("nothing",)], "write_tests": [(TESTS,)]},
        verify=by_program(PASSES),
    )
    submit = steps.run(policy(n=3, min_samples=5))
    assert steps.kinds() == ["generate", "generate", "write_tests"]
    [verify] = steps.of(Verify)
    assert len(verify.programs) == 5
    assert "# C0" in submit.program


def test_public_tests_only_make_no_test_writing_call():
    steps = Steps(answers={"generate": [SAMPLES[:2]]}, verify=by_program({"# C0": ("failed", "passed"), "# C1": ("passed", "passed")}))
    submit = steps.run(policy(n=2, min_samples=1, tests="public"))
    assert steps.kinds() == ["generate"] and "# C1" in submit.program and submit.selected_on == "public"


def test_codet_samples_at_the_papers_temperature():
    steps = Steps(answers={"generate": [SAMPLES[:2]], "write_tests": [(TESTS,)]}, verify=by_program(PASSES))
    steps.run(policy(n=2, min_samples=1))
    assert [a.temperature for a in steps.actions if getattr(a, "kind", "") in ("generate", "write_tests")] == [0.8, 0.8]
