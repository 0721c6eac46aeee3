"""The simulated test writer: examples read off the prompt, inputs invented where there are none,
errors at the rates the skill sets."""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys

import pytest

from tasks.benchmarks import load_benchmark
from tasks.models import sim_inputs, sim_tree
from tasks.models.sim import SKILLS


@pytest.fixture(scope="module")
def humaneval():
    """Through the benchmark loader: its public tests are the prompt's parsed examples."""
    return load_benchmark("humaneval").problems

_RUN_ALL = r"""
import json, sys
results = {}
for task_id, program, lines in json.load(sys.stdin):
    namespace = {}
    exec(program, namespace)
    failed = []
    for line in lines:
        try:
            exec(line, namespace)
        except Exception as error:
            failed.append(f"{line}: {type(error).__name__}")
    results[task_id] = failed
print(json.dumps(results))
"""


def _failures(pairs):
    """{task_id: failing lines} running each reference with its lines (trusted code, one process)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_ALL], input=json.dumps(pairs), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_an_accurate_writer_s_tests_pass_the_reference_wherever_the_prompt_has_examples(humaneval):
    with_examples = [p for p in humaneval if sim_inputs.public_example_calls(p)]
    assert len(with_examples) >= 140  # HumanEval: 147 prompts show examples the loader parses
    pairs = [
        (p.task_id, p.reference_solution, sim_tree.written_tests(p, p.entry_point, 1.0, random.Random(0)))
        for p in with_examples
    ]
    assert all(any(line.startswith("assert ") for line in lines) for _, _, lines in pairs)
    failing = {task: lines for task, lines in _failures(pairs).items() if lines}
    assert not failing, failing


def test_a_prompt_without_examples_gets_call_only_lines_of_the_right_arity(humaneval):
    without = [p for p in humaneval if not sim_tree.example_calls(p)]
    assert without
    for problem in without:
        lines = sim_tree.written_tests(problem, problem.entry_point, 1.0, random.Random(0))
        function = next(
            n for n in ast.parse(problem.reference_solution).body
            if isinstance(n, ast.FunctionDef) and n.name == problem.entry_point
        )  # fmt: skip
        assert lines and all(not line.startswith("assert") for line in lines), (problem.task_id, lines)
        for line in lines:
            call = ast.parse(line).body[0].value
            assert call.func.id == problem.entry_point
            assert len(call.args) == len(function.args.args), (problem.task_id, line)


def test_a_helper_gets_call_only_lines_named_for_it(humaneval):
    problem = next(p for p in humaneval if sim_inputs.public_example_calls(p))
    helper = problem.entry_point + sim_tree.HELPER_SUFFIX
    lines = sim_tree.written_tests(problem, helper, 1.0, random.Random(0))
    assert lines and all(line.startswith(f"{helper}(") for line in lines)


def test_a_weak_writer_flips_copied_examples_at_half_its_error_rate(humaneval):
    small = SKILLS["small"]
    asserts = flipped = 0
    for seed in range(3):
        for problem in humaneval:
            for line in sim_tree.written_tests(problem, problem.entry_point, small.tests_accuracy, random.Random(seed)):
                if line.startswith("assert"):
                    asserts += 1
                    flipped += "!=" in line or line.startswith("assert not")
    expected = (1 - small.tests_accuracy) * sim_tree.COPY_ERROR_SHARE
    assert asserts > 300
    assert abs(flipped / asserts - expected) < 0.04, (flipped, asserts, expected)
