"""self_debug transitions with scripted answers: repair from the failing test's feedback, and the
round budget."""

from __future__ import annotations

from policy_steps import Steps, by_program, code
from tasks.policies.engine import Generate, Verify
from tasks.policies.self_debug import SelfDebug
from tasks.records import PolicySpec

TESTS = "```python\nassert f(1) == 2\nassert f(2) == 3\n```"


def policy(**params) -> SelfDebug:
    return SelfDebug(PolicySpec("self_debug", tuple(sorted(params.items()))))


def test_a_passing_first_program_makes_no_repair():
    steps = Steps(answers={"generate": [(code("return x + 1  # OK"),)], "write_tests": [(TESTS,)]},
                  verify=by_program({"# OK": ("passed", "passed")}))
    submit = steps.run(policy())
    assert steps.kinds() == ["generate", "write_tests"] and "# OK" in submit.program
    assert (submit.selected_tests_passed, submit.selected_tests_total) == (2, 2)


def test_a_failure_is_repaired_with_the_failing_test_in_the_prompt():
    steps = Steps(
        answers={"generate": [(code("return x  # BAD"),)], "write_tests": [(TESTS,)],
                 "repair": [(code("return x + 1  # FIXED"),)]},
        verify=by_program({"# BAD": ("passed", "failed"), "# FIXED": ("passed", "passed")}),
    )
    submit = steps.run(policy())
    assert steps.kinds() == ["generate", "write_tests", "repair"]
    [repair] = [a for a in steps.of(Generate) if a.kind == "repair"]
    prompt = repair.messages[-1][1]
    assert "assert f(2) == 3" in prompt and "return x  # BAD" in prompt  # the failing test, the code
    assert repair.node.attempt == 1 and repair.temperature == 0.0
    assert "# FIXED" in submit.program
    assert [v.node.attempt for v in steps.of(Verify)] == [0, 1]


def test_repairs_stop_at_max_rounds_and_the_best_program_is_submitted():
    steps = Steps(
        answers={
            "generate": [(code("return 0  # R0"),)],
            "write_tests": [(TESTS,)],
            "repair": [(code("return x  # R1"),), (code("return -x  # R2"),)],
        },
        verify=by_program({"# R0": ("failed", "failed"), "# R1": ("passed", "failed"), "# R2": ("failed", "failed")}),
    )
    submit = steps.run(policy(max_rounds=2))
    assert steps.kinds().count("repair") == 2  # exactly max_rounds, then submit
    assert "# R1" in submit.program and submit.selected_tests_passed == 1


def test_zero_rounds_is_generate_and_test_only():
    steps = Steps(answers={"generate": [(code("return 0  # R0"),)]},
                  verify=by_program({"# R0": ("failed", "failed")}))
    submit = steps.run(policy(max_rounds=0, tests="public"))
    assert steps.kinds() == ["generate"] and "# R0" in submit.program and submit.selected_on == "public"


def test_later_program_wins_ties():
    steps = Steps(
        answers={"generate": [(code("return 0  # R0"),)], "write_tests": [(TESTS,)],
                 "repair": [(code("return 1  # R1"),)]},
        verify=by_program({"# R0": ("passed", "failed"), "# R1": ("passed", "failed")}),
    )
    submit = steps.run(policy(max_rounds=1))
    assert "# R1" in submit.program
