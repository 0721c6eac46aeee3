"""The simulator's answers to repair, divide and conquer requests (self_debug, funcoder)."""

from __future__ import annotations

import pytest

from tasks import prompts
from tasks.models import sim, sim_baselines, sim_tree


@pytest.fixture(autouse=True)
def registered(humaneval):
    sim.clear_problems()
    sim.register_problems(humaneval)
    yield
    sim.clear_problems()


FEEDBACKS = {
    "none": "",
    "failed": "the code did not pass the tests",
    "status": "test 2: error:IndexError: list index out of range",
    "values": "assert f(2) == 3: test 1: failed: expected 3, got 2",
}


def test_feedback_levels_are_read_from_the_text():
    assert {level: sim_baselines.feedback_level(text) for level, text in FEEDBACKS.items()} == {
        level: level for level in FEEDBACKS}


def test_repair_success_grows_with_what_the_feedback_says(humaneval):
    skill = sim.skill_of("small")
    for problem in humaneval[:20]:
        chances = [sim_baselines.p_repair(skill, problem, FEEDBACKS[level]) for level in FEEDBACKS]
        assert chances == sorted(chances) and chances[0] < chances[-1]
        assert chances[0] == pytest.approx(sim.p_correct(skill, problem))


def repair_request(problem, program: str, feedback: str):
    messages, _ = prompts.render("repair", code=problem.prompt.strip("\n"), program=program,
                                 feedback=feedback, target=problem.entry_point)  # fmt: skip
    facts = {"kind": "repair", "task_id": problem.task_id, "dataset": "humaneval",
             "target": problem.entry_point, "feedback": feedback}  # fmt: skip
    return messages, facts


def test_repairs_are_the_reference_more_often_with_detailed_feedback(humaneval):
    def fixed(feedback: str) -> int:
        count = 0
        for problem in humaneval[:40]:
            messages, facts = repair_request(problem, "def broken():\n    pass", feedback)
            answer = sim.simulate("small", messages, seed=3, metadata=facts)
            code = prompts.read_code(answer, problem.entry_point)
            assert code.target_found  # an explanation, then code for the target
            count += problem.reference_solution.strip() in answer
        return count

    assert fixed(FEEDBACKS["none"]) < fixed(FEEDBACKS["values"])


def test_repair_is_recognised_by_its_template_on_the_http_path(humaneval):
    problem = humaneval[0]
    messages, facts = repair_request(problem, "def f():\n    pass", "")
    assert prompts.kind_of_messages(messages) == "repair"
    assert sim.simulate("small", messages, seed=1) == sim.simulate("small", messages, seed=1, metadata=facts)


def test_divide_splits_hard_roots_more_than_easy_ones_and_helpers_rarely(humaneval):
    ordered = sorted(humaneval, key=sim.difficulty)
    easy, hard = ordered[0], ordered[-1]
    assert sim_baselines.p_divide(easy, easy.entry_point) < sim_baselines.p_divide(hard, hard.entry_point)
    helper = hard.entry_point + sim_tree.HELPER_SUFFIX
    assert sim_baselines.p_divide(hard, helper) < sim_baselines.p_divide(hard, hard.entry_point)

    def splits(problem, target, seeds=40) -> int:
        count = 0
        for seed in range(seeds):
            messages, _ = prompts.render("divide", code=problem.prompt.strip("\n"), target=target)
            facts = {"kind": "divide", "task_id": problem.task_id, "dataset": "humaneval", "target": target}
            answer = sim.simulate("large", messages, seed=seed, metadata=facts)
            extracted = prompts.read_code(answer, target)
            count += bool(set(extracted.stubs) - {target})
        return count

    assert splits(easy, easy.entry_point) < splits(hard, hard.entry_point)


def test_conquer_of_a_helper_answers_with_that_helper(humaneval):
    problem = humaneval[2]
    helper = problem.entry_point + sim_tree.HELPER_SUFFIX
    messages, _ = prompts.render("conquer", code=f"def {helper}(number):\n    raise NotImplementedError()",
                                 target=helper)  # fmt: skip
    facts = {"kind": "conquer", "task_id": problem.task_id, "dataset": "humaneval", "target": helper}
    answer = sim.simulate("large", messages, seed=0, metadata=facts)
    assert helper in prompts.read_code(answer, helper).functions
