"""best_of_n transitions with scripted answers: which candidate wins, and the call budget."""

from __future__ import annotations

from policy_steps import PROBLEM, Steps, by_program, code
from tasks.policies.best_of_n import BestOfN
from tasks.policies.engine import Verify
from tasks.records import PolicySpec

TESTS = "```python\nassert f(1) == 2\nassert f(2) == 3\nf(10)\n```"


def policy(**params) -> BestOfN:
    return BestOfN(PolicySpec("best_of_n", tuple(sorted(params.items()))))


def test_picks_the_candidate_passing_most_public_tests_earliest_among_equals():
    steps = Steps(
        answers={"generate": [(code("return x  # A"), code("return x + 1  # B"), code("return 1 + x  # C"))]},
        verify=by_program({"# A": ("failed", "failed"), "# B": ("passed", "passed"), "# C": ("passed", "passed")}),
    )
    submit = steps.run(policy(n=3, tests="public"))
    assert "# B" in submit.program
    assert (submit.selected_on, submit.selected_tests_total, submit.selected_tests_passed) == ("public", 2, 2)
    assert steps.kinds() == ["generate"]  # one call with n samples, no test writing
    [verify] = steps.of(Verify)
    assert verify.test_source == "public" and len(verify.programs) == 3


def test_generated_tests_come_from_one_test_writing_call_at_low_temperature():
    steps = Steps(
        answers={"generate": [(code("return x  # A"), code("return x + 1  # B"))], "write_tests": [(TESTS,)]},
        verify=by_program({"# A": ("failed", "failed", "passed"), "# B": ("passed", "passed", "passed")}),
    )
    submit = steps.run(policy(n=2))
    assert "# B" in submit.program and submit.selected_on == "generated"
    [write] = [a for a in steps.actions if getattr(a, "kind", "") == "write_tests"]
    assert write.temperature == 0.2 and write.n == 1
    [generate] = [a for a in steps.actions if getattr(a, "kind", "") == "generate"]
    assert generate.temperature == 0.8
    [verify] = steps.of(Verify)
    assert verify.tests.asserts == ("assert f(1) == 2", "assert f(2) == 3", "f(10)")


def test_both_sources_add_up():
    steps = Steps(
        answers={"generate": [(code("return x  # A"), code("return x + 1  # B"))], "write_tests": [(TESTS,)]},
        verify=lambda action: by_program(
            {"# A": ("passed", "passed"), "# B": ("failed", "passed")} if action.test_source == "public"
            else {"# A": ("failed", "failed", "passed"), "# B": ("passed", "passed", "passed")}
        )(action),
    )
    submit = steps.run(policy(n=2, tests="both"))
    # A: 2 + 1 = 3 of 5; B: 1 + 3 = 4 of 5.
    assert "# B" in submit.program
    assert (submit.selected_on, submit.selected_tests_total, submit.selected_tests_passed) == ("both", 5, 4)
    assert [v.test_source for v in steps.of(Verify)] == ["public", "generated"]


def test_test_writing_is_asked_at_most_three_times_then_the_first_sample_goes_unverified():
    steps = Steps(
        answers={
            "generate": [(code("return x + 1  # A"), code("return x  # B"))],
            "write_tests": [("no tests, sorry",), ("```python\nprint('hi')\n```",), ("still nothing",)],
        }
    )
    submit = steps.run(policy(n=2))
    assert steps.kinds().count("write_tests") == 3
    assert submit.accepted_unverified and "# A" in submit.program
    assert not steps.of(Verify)


def test_no_usable_sample_submits_nothing():
    steps = Steps(answers={"generate": [("I cannot help with that.", "def g(:")]})
    submit = steps.run(policy(n=2, tests="public"))
    assert submit.program is None and submit.error


def test_stdio_problems_are_checked_on_their_public_samples():
    from dataclasses import replace as with_fields

    from sandbox.types import StdioTests

    stdio = with_fields(PROBLEM, prompt="Read n, print n + 1.", entry_point="", test_format="stdio",
                        public_tests=StdioTests(cases=(("1\n", "2\n"),)))  # fmt: skip
    program = "```python\nprint(int(input()) + 1)  # P\n```"
    steps = Steps(answers={"generate": [(program, program.replace("# P", "# Q"))]},
                  verify=lambda action: by_stdio(action))
    submit = steps.run(policy(n=2), problem=stdio)
    assert steps.kinds() == ["generate"] and submit.selected_on == "public" and "# P" in submit.program
    [generate] = [a for a in steps.actions if getattr(a, "kind", "") == "generate"]
    assert "standard input" in generate.messages[0][1]  # the whole-program template


def by_stdio(action):
    from policy_steps import verdict_of

    return [verdict_of(("passed",)) for _ in action.programs]
