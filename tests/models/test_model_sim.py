"""The simulator: deterministic, skill-ordered, mutations that really fail, honest token counts."""

from __future__ import annotations

import ast
import os
import random
import subprocess
import sys
import tempfile

import pytest

from tasks import prompts
from tasks.models import sim


@pytest.fixture(autouse=True)
def registered(humaneval):
    sim.clear_problems()
    sim.register_problems(humaneval)
    yield
    sim.clear_problems()


def run_check(program: str, problem, timeout_s: float = 2.0) -> bool:
    """HumanEval's own check() on a program, in a plain subprocess (trusted code here)."""
    suite = problem.hidden_suites[0].tests
    source = f"{program}\n\n{suite.test_code}\n\ncheck({suite.entry_point})\n"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    try:
        result = subprocess.run(
            [sys.executable, handle.name], capture_output=True, timeout=timeout_s, cwd="/tmp"
        )
        return result.returncode == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        os.unlink(handle.name)


def test_same_request_same_answer_and_seeds_differ(humaneval):
    problem = humaneval[10]
    messages = prompts.generate_messages(problem.prompt, problem.entry_point)
    assert sim.simulate("small", messages, seed=3) == sim.simulate("small", messages, seed=3)
    answers = {sim.simulate("small", messages, seed=seed) for seed in range(12)}
    assert len(answers) > 1


def test_unknown_model_is_an_error():
    with pytest.raises(sim.UnknownSimModel, match="sim/small"):
        sim.skill_of("sim/huge")


def test_unknown_problem_gets_a_stub_with_the_right_name():
    messages = prompts.generate_messages('def frobnicate(a, b):\n    """Frob."""\n', "frobnicate")
    code = prompts.extract_code(sim.simulate("large", messages, seed=0))
    tree = ast.parse(code)
    functions = [node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    assert functions == ["frobnicate"]
    namespace: dict = {}
    exec(compile(tree, "<stub>", "exec"), namespace)
    assert namespace["frobnicate"](1, 2) is None


def test_mutations_change_the_ast_and_mostly_fail_the_real_tests(humaneval):
    rng = random.Random(7)
    chosen = rng.sample(humaneval, 30)
    kinds = set()
    failed = 0
    for problem in chosen:
        code, kind = sim.mutate(problem.reference_solution, problem.entry_point, rng)
        kinds.add(kind)
        if kind != "syntax_error":
            assert ast.dump(ast.parse(code)) != ast.dump(ast.parse(problem.reference_solution))
        else:
            with pytest.raises(SyntaxError):
                ast.parse(code)
        failed += not run_check(code, problem)
    assert failed >= 0.75 * len(chosen), f"only {failed}/{len(chosen)} mutations fail the tests"
    assert {"comparison", "off_by_one"} & kinds


def test_reference_answers_pass_the_real_tests(humaneval):
    for problem in humaneval[:5]:
        messages = prompts.generate_messages(problem.prompt, problem.entry_point)
        # large answers correctly most of the time; find a seed where it does and run it
        answers = [prompts.extract_code(sim.simulate("large", messages, seed=s)) for s in range(8)]
        correct = [a for a in answers if a.strip() == problem.reference_solution.strip()]
        assert correct, problem.task_id
        assert run_check(correct[0], problem)




def test_skill_orders_the_success_rates(humaneval):
    """Measured from the answers themselves, not the formula: large > small."""

    def rate(model: str) -> float:
        correct = 0
        for problem in humaneval:
            for seed in range(2):
                messages = prompts.generate_messages(problem.prompt, problem.entry_point)
                code = prompts.extract_code(sim.simulate(model, messages, seed=seed))
                correct += code.strip() == problem.reference_solution.strip()
        return correct / (2 * len(humaneval))

    small, large = rate("small"), rate("large")
    assert 0.4 < small < large - 0.2 and large > 0.8, (small, large)


def test_the_request_kind_travels_explicitly_or_is_recognised_by_the_template(humaneval):
    problem = humaneval[0]
    messages, _ = prompts.render("write_tests", code=problem.prompt.strip(), target=problem.entry_point)
    explicit = {"kind": "write_tests", "task_id": problem.task_id, "dataset": "humaneval"}
    by_metadata = sim.simulate("large", messages, seed=1, metadata=explicit)
    assert by_metadata == sim.simulate("large", messages, seed=1)  # HTTP path: by template
    code = prompts.extract_code(by_metadata)
    lines = [line for line in code.splitlines() if line.strip()]
    assert lines and all(line.startswith(("assert has_close_elements(", "has_close_elements("))
                         for line in lines)  # fmt: skip


def test_token_counts_match_litellm_and_max_tokens_cuts(humaneval):
    import litellm

    problem = humaneval[3]
    messages = prompts.generate_messages(problem.prompt, problem.entry_point)
    answer = sim.respond("small", messages, seed=0)
    as_dicts = [{"role": r, "content": c} for r, c in messages]
    assert answer.input_tokens == litellm.token_counter(messages=as_dicts)
    assert answer.output_tokens == litellm.token_counter(
        text=answer.text, count_response_tokens=True
    )
    cut = sim.respond("small", messages, seed=0, max_tokens=10)
    assert cut.output_tokens <= 10 and cut.finish_reason == "length"
    assert answer.text.startswith(cut.text[:10])
