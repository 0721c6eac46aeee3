"""PaT's transitions through the real driver, with a scripted model (which fails loudly when
its script runs out) and a scripted verifier: no sandbox, every budget counted."""

from __future__ import annotations

import json

from policy_scripts import FunctionVerifier, ScriptedModel, code, run, verdict

from tasks.records import PolicySpec

PAT = PolicySpec("pat")
TESTS = "```python\nassert f(1) == 2\nf(0)\nf(-3)\n```"  # 1 assert + 2 call-only tests
CALLS = "```python\n{name}(1)\n{name}(2)\n```"


def good(tag: str = "GOOD") -> str:
    return code(f"return x + 1  # {tag}")


def samples(*tags: str) -> list[str]:
    return [good(tag) for tag in tags]


def decomposition(*helpers: str, tag: str = "plan") -> str:
    calls = " + ".join(f"{h}(x)" for h in helpers) or "0"
    stubs = "".join(
        f'\n\ndef {h}(x):\n    """Part {h} of f."""\n    raise NotImplementedError()\n' for h in helpers
    )
    return f"```python\ndef f(x):\n    # {tag}\n    return {calls}\n{stubs}```"


def helper(name: str, tag: str) -> str:
    return f"```python\ndef {name}(x):\n    return x  # {tag}\n```"


def by_tag(scores: dict[str, int], total: int = 3):
    """Verdict = (total, passes of the first tag found in the program)."""

    def judge(program, tests):
        for tag, passed in scores.items():
            if tag in program:
                return verdict(total if "assert" in repr(tests) else 2, passed)
        raise AssertionError(f"unscored program:\n{program}")

    return judge


def test_a_passing_trial_makes_zero_planner_calls():
    model = ScriptedModel({
        ("generator", "generate"): [samples("a", "b", "GOOD", "c", "d")[i] for i in range(5)],
        ("generator", "write_tests"): [TESTS],
    })  # fmt: skip
    verifier = FunctionVerifier(by_tag({"GOOD": 3, "a": 1, "b": 0, "c": 2, "d": 1}))
    result = run(PAT, model, verifier)
    assert model.kinds() == ["generate"] * 5 + ["write_tests"]
    assert [r.temperature for _, r in model.requests] == [0.8] * 5 + [0.2]
    assert not result.outcome.planner_invoked and result.outcome.root_trial_passed is True
    assert result.outcome.passed and "GOOD" in result.outcome.final_program
    assert (result.outcome.selected_on, result.outcome.selected_tests_passed,
            result.outcome.selected_tests_total) == ("generated", 3, 3)  # fmt: skip
    assert result.outcome.decompositions == 0 and result.outcome.nodes == 1
    generated = verifier.calls[0][1]
    assert generated.asserts == ("assert f(1) == 2", "f(0)", "f(-3)")
    assert not model.left()


def test_the_best_sample_is_kept_ties_going_to_the_later_one():
    model = ScriptedModel({
        ("generator", "generate"): samples("a", "b", "c", "d", "e"),
        ("generator", "write_tests"): [TESTS],
        ("planner", "decompose"): ["no code"] * 15,
    })  # fmt: skip
    scores = {"a": 2, "b": 1, "c": 2, "d": 0, "e": 1}
    result = run(PAT, model, FunctionVerifier(by_tag(scores)))
    assert "# c" in result.outcome.final_program  # a and c tie on 2: the later one
    assert result.outcome.root_trial_passed is False and result.outcome.planner_invoked
    assert model.kinds("planner") == ["decompose"] * 15  # 5 attempts x 3 tries, all unusable
    assert result.outcome.decompositions == 0


def test_fewer_than_three_parsing_samples_asks_again_then_proceeds():
    unusable = ["no code at all", code("pass"), code("return 1", args="x, y")]
    first = [good("a"), good("b")] + unusable  # 2 count
    second = unusable + unusable[:2]  # 0 count
    third = [good("c")] + unusable + unusable[:1]  # 1 more: 3 in all
    model = ScriptedModel({
        ("generator", "generate"): first + second + third,
        ("generator", "write_tests"): [TESTS],
    })  # fmt: skip
    verifier = FunctionVerifier(by_tag({"a": 1, "b": 1, "c": 3}))
    result = run(PAT, model, verifier)
    sample_indices = [r.sample_index for _, r in model.requests if r.purpose == "generate"]
    assert sample_indices == list(range(15))  # re-asks get new samples, not the same ones
    assert len(verifier.calls) == 3 and "# c" in result.outcome.final_program


def test_unfenced_samples_do_not_count():
    fenced = good("a")
    bare = "def f(x):\n    return x + 1  # bare\n"
    model = ScriptedModel({
        ("generator", "generate"): [fenced] + [bare] * 4 + [bare] * 5 + [bare] * 5,
        ("generator", "write_tests"): [TESTS],
    })  # fmt: skip
    result = run(PAT, model, FunctionVerifier(by_tag({"a": 3})))
    assert model.kinds().count("generate") == 15 and result.outcome.root_trial_passed


def test_no_tests_after_three_tries_accepts_the_first_sample_unverified():
    model = ScriptedModel({
        ("generator", "generate"): samples("first", "b", "c", "d", "e"),
        ("generator", "write_tests"): ["I cannot.", "```python\nprint('hi')\n```", "ERROR: 500"],
    })  # fmt: skip
    verifier = FunctionVerifier()  # any verification would fail the test
    result = run(PAT, model, verifier)
    assert model.kinds() == ["generate"] * 5 + ["write_tests"] * 3
    assert verifier.calls == [] and "# first" in result.outcome.final_program
    assert result.outcome.accepted_unverified and result.outcome.selected_on == ""
    assert result.outcome.root_trial_passed is None and not result.outcome.planner_invoked


def test_a_failing_trial_decomposes_and_the_composed_program_is_checked():
    model = ScriptedModel({
        ("generator", "generate"): samples("a", "b", "c", "d", "e") + [helper("g", "h1")] * 5,
        ("generator", "write_tests"): [TESTS, CALLS.format(name="g")],
        ("planner", "decompose"): [decomposition("g")],
    })  # fmt: skip
    scores = {"h1": 3, "a": 1, "b": 0, "c": 0, "d": 0, "e": 0}
    verifier = FunctionVerifier(by_tag(scores))
    result = run(PAT, model, verifier)
    planner = [r for who, r in model.requests if who == "planner"]
    assert len(planner) == 1 and planner[0].temperature == 0.2
    assert "Return x + 1." in planner[0].messages[-1][1]  # the node's docstring, not a test
    program = result.outcome.final_program
    assert "# plan" in program and "# h1" in program and "NotImplementedError" not in program
    assert program.index("def g(") < program.index("def f(")
    assert result.outcome.decompositions == 1 and result.outcome.nodes == 2
    assert result.outcome.max_depth == 1 and result.outcome.root_trial_passed is False
    assert (result.outcome.selected_tests_passed, result.outcome.selected_tests_total) == (3, 3)
    helper_calls = [c for c in result.calls if c.node_id == "root.1.0"]
    assert {c.parent_node_id for c in helper_calls} == {"root"} and {c.depth for c in helper_calls} == {1}
    helper_tests = [tests for program, tests in verifier.calls if "def g(" in program and "def f(" not in program]
    assert helper_tests and helper_tests[0].asserts == ("g(1)", "g(2)")  # call-only at helpers
    tree = json.loads(result.outcome.tree_json)
    assert tree["children"][0]["target"] == "g" and tree["kept_attempt"] == 1


def test_helpers_recurse_and_stop_at_depth_three():
    def chain(name: str, child: str) -> str:
        return (f"```python\ndef {name}(x):\n    return {child}(x)\n\n\ndef {child}(x):\n"
                f'    """Deeper."""\n    raise NotImplementedError()\n```')  # fmt: skip

    model = ScriptedModel({
        ("generator", "generate"): samples("a", "b", "c", "d", "e") + [helper("g1", "x1")] * 5
        + [helper("g2", "x2")] * 5 + [helper("g3", "x3")] * 5,
        ("generator", "write_tests"): [TESTS] + [CALLS.format(name=n) for n in ("g1", "g2", "g3")],
        ("planner", "decompose"): [decomposition("g1"), chain("g1", "g2"), chain("g2", "g3")],
    })  # fmt: skip

    def judge(program, tests):  # every trial fails; code composed down to g3 passes
        total = 3 if "def f(" in program else 2
        return verdict(total, total if "# x3" in program and "def g2(" in program else 0)

    result = run(PAT, model, FunctionVerifier(judge))
    # root, depth 1, depth 2 decompose; g3 at depth 3 fails its trial and is not decomposed
    assert model.kinds("planner") == ["decompose"] * 3
    assert "# x3" in result.outcome.final_program
    depths = {c.node_id: c.depth for c in result.calls}
    assert max(depths.values()) == 3 and result.outcome.max_depth == 3
    assert result.outcome.selected_tests_passed == 3 and result.outcome.nodes == 4
    assert not model.left()


def _revert_run(attempt_scores: list[int], trial_score: int = 0):
    """Root trial fails; each attempt introduces helper g<k> whose trial passes; the composed
    program of attempt k passes attempt_scores[k-1] of 3 tests."""
    attempts = len(attempt_scores)
    model = ScriptedModel({
        ("generator", "generate"): samples("a", "b", "c", "d", "e")
        + [s for k in range(1, attempts + 1) for s in [helper(f"g{k}", f"h{k}")] * 5],
        ("generator", "write_tests"): [TESTS] + [CALLS.format(name=f"g{k}") for k in range(1, attempts + 1)],
        ("planner", "decompose"): [decomposition(f"g{k}", tag=f"plan{k}") for k in range(1, attempts + 1)],
    })  # fmt: skip

    def judge(program, tests):
        if "def f(" not in program:
            return verdict(2, 2)  # a helper's trial passes
        for k in range(attempts, 0, -1):
            if f"# plan{k}" in program:
                return verdict(3, attempt_scores[k - 1])
        return verdict(3, trial_score)

    return model, run(PAT, model, FunctionVerifier(judge))


def test_an_attempt_that_passes_no_more_tests_restores_the_previous_one_with_its_children():
    model, result = _revert_run([1, 1])
    assert model.kinds("planner") == ["decompose"] * 2 and not model.left()
    program = result.outcome.final_program
    assert "# plan1" in program and "# h1" in program  # attempt 1's parent AND its child
    assert "# plan2" not in program and "# h2" not in program
    assert result.outcome.reverts == 1 and result.outcome.decompositions == 2
    assert result.outcome.selected_tests_passed == 1
    assert json.loads(result.outcome.tree_json)["kept_attempt"] == 1


def test_the_revert_rule_never_fires_on_the_first_attempt_nor_at_zero_passes():
    model, result = _revert_run([0, 0, 2, 3])
    assert model.kinds("planner") == ["decompose"] * 4 and result.outcome.reverts == 0
    assert "# plan4" in result.outcome.final_program


def test_an_improving_attempt_continues_and_a_worse_one_reverts():
    model, result = _revert_run([1, 2, 1])
    assert result.outcome.reverts == 1 and "# plan2" in result.outcome.final_program
    assert "# h2" in result.outcome.final_program and "# h3" not in result.outcome.final_program


def test_at_most_five_attempts_and_the_last_is_kept():
    model, result = _revert_run([1, 2, 0, 1, 2])
    assert model.kinds("planner") == ["decompose"] * 5 and not model.left()
    assert result.outcome.decompositions == 5 and result.outcome.reverts == 0
    assert "# plan5" in result.outcome.final_program
    model, _ = _revert_run([1, 2, 0, 1, 2, 3])
    assert model.kinds("planner") == ["decompose"] * 5
    assert model.left()[("planner", "decompose")]  # the sixth answer is never asked for
