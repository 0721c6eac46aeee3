"""Custom datasets: format auto-detection, one-line errors (file, line, field), LiveCodeBench."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from sandbox.types import CallTests, CheckFunctionTests, StdioTests
from tasks.benchmarks import BenchmarkError, builtin_names, load_benchmark
from tasks.verification import verify

HUMANEVAL_ROW = {
    "task_id": "demo/0",
    "prompt": 'def add(a, b):\n    """Add.\n    >>> add(1, 2)\n    3\n    >>> add(2, 2)\n    5\n    """\n',
    "entry_point": "add",
    "canonical_solution": "    return a + b\n",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PATFLOW_DATASET_CACHE_DIR", str(tmp_path / "cache"))


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_humaneval_format_detected_and_wrong_docstring_example_dropped(tmp_path):
    benchmark = load_benchmark(str(write_jsonl(tmp_path / "mine.jsonl", [HUMANEVAL_ROW])))
    assert benchmark.info.name == "mine" and benchmark.info.version == "custom"
    (problem,) = benchmark.problems
    assert isinstance(problem.hidden_suites[0].tests, CheckFunctionTests)
    assert problem.reference_solution == HUMANEVAL_ROW["prompt"] + HUMANEVAL_ROW["canonical_solution"]
    assert problem.completion_prefix == HUMANEVAL_ROW["prompt"]
    # add(2, 2) -> 5 contradicts the reference: only add(1, 2) -> 3 stays public
    assert problem.public_tests == CallTests("add", ((1, 2),), (3,))
    assert verify(problem.reference_solution, problem.hidden_suites[0].tests).passed


def test_public_tests_none(tmp_path):
    benchmark = load_benchmark(str(write_jsonl(tmp_path / "mine.jsonl", [HUMANEVAL_ROW])), public_tests="none")
    assert benchmark.problems[0].public_tests is None
    with pytest.raises(BenchmarkError, match="unknown public_tests mode 'some'"):
        load_benchmark("mbpp", public_tests="some")


def test_missing_field_names_file_line_and_format(tmp_path):
    broken = {k: v for k, v in HUMANEVAL_ROW.items() if k != "entry_point"}
    path = write_jsonl(tmp_path / "x.jsonl", [HUMANEVAL_ROW, {**HUMANEVAL_ROW, "task_id": "demo/1"}, broken])
    with pytest.raises(BenchmarkError) as raised:
        load_benchmark(str(path))
    message = str(raised.value)
    assert message == (
        f"{path}:3: missing field 'entry_point' (HumanEval format needs task_id, prompt, entry_point, test)"
    )
    assert "\n" not in message


def test_invalid_json_line_and_unknown_format_and_empty_file(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [HUMANEVAL_ROW, '{"task_id": "x", '])
    with pytest.raises(BenchmarkError, match=rf"^{path}:2: invalid JSON .*expected one JSON object per line$"):
        load_benchmark(str(path))
    path = write_jsonl(tmp_path / "other.jsonl", [{"question": "q", "answer": 1}])
    with pytest.raises(BenchmarkError, match=rf"^{path}:1: no known benchmark format matches fields \(answer, question\); expected HumanEval"):
        load_benchmark(str(path))
    path = write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(BenchmarkError, match="no records"):
        load_benchmark(str(path))


def test_unknown_name_and_missing_path():
    with pytest.raises(BenchmarkError) as raised:
        load_benchmark("foo")
    assert str(raised.value) == (
        f"unknown benchmark 'foo' (built-ins: {', '.join(builtin_names())}; or a path to a .jsonl file)"
    )
    with pytest.raises(BenchmarkError, match="nope.jsonl: file not found"):
        load_benchmark("/tmp/definitely/nope.jsonl")


def test_duplicate_task_ids_rejected(tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [HUMANEVAL_ROW, HUMANEVAL_ROW])
    with pytest.raises(BenchmarkError, match="duplicate task_id 'demo/0'"):
        load_benchmark(str(path))


def test_evalplus_format_computes_expected_outputs_in_the_sandbox(tmp_path):
    row = {
        "task_id": "mine/0",
        "prompt": 'def pair(xs, n):\n    """Pair up.\n    >>> pair((1, 2), 3)\n    (1, 2, 3)\n    """\n',
        "entry_point": "pair",
        "canonical_solution": "    return tuple(xs) + (n + 0,)\n",
        "base_input": [[[1, 2], 3]],
        "plus_input": [[[], 0], [[5], "boom"]],  # the reference raises on the last one
        "atol": 0,
    }
    (problem,) = load_benchmark(str(write_jsonl(tmp_path / "plus.jsonl", [row]))).problems
    base, plus = problem.hidden_suites
    assert (base.name, plus.name) == ("base", "plus")
    assert base.tests == CallTests("pair", (([1, 2], 3),), ((1, 2, 3),))
    assert plus.tests.inputs == (([], 0),) and plus.tests.expected == ((0,),)  # unanswerable input dropped
    assert len(plus.time_limits_s) == 1 and plus.time_limits_s[0] >= 2.0
    assert problem.public_tests == CallTests("pair", (((1, 2), 3),), ((1, 2, 3),))
    for suite in problem.hidden_suites:
        assert verify(problem.reference_solution, suite.tests, suite.time_limits_s).passed
        assert not verify(problem.prompt + "    return None\n", suite.tests, suite.time_limits_s).passed


def test_evalplus_bad_inputs_field(tmp_path):
    row = {"task_id": "t", "prompt": "p", "entry_point": "f", "canonical_solution": "", "base_input": [1, 2]}
    path = write_jsonl(tmp_path / "p.jsonl", [row])
    with pytest.raises(BenchmarkError, match=rf"^{path}:1: field 'base_input' must be a list of argument lists$"):
        load_benchmark(str(path))


def test_stdio_format(tmp_path):
    row = {
        "task_id": "s/1",
        "statement": "Print the sum of the numbers on the line.",
        "public_tests": [{"input": "1 2\n", "output": "3\n"}],
        "hidden_tests": [{"input": "40 2 SECRET_CANARY_INPUT\n", "output": "42\n"}],
        "time_limit_s": 1.5,
        "reference_solution": "print(sum(int(t) for t in input().split() if t.isdigit()))",
    }
    (problem,) = load_benchmark(str(write_jsonl(tmp_path / "s.jsonl", [row]))).problems
    assert problem.entry_point == "" and problem.test_format == "stdio"
    assert problem.public_tests == StdioTests((("1 2\n", "3\n"),))
    assert "Example 1" in problem.prompt and "1 2" in problem.prompt
    assert "SECRET_CANARY_INPUT" not in problem.prompt + repr(problem.public_tests)
    assert problem.hidden_suites[0].time_limits_s == (1.5,)
    assert verify(problem.reference_solution, problem.hidden_suites[0].tests).passed
    assert not verify("print(0)", problem.hidden_suites[0].tests).passed
    missing = {k: v for k, v in row.items() if k != "hidden_tests"}
    path = write_jsonl(tmp_path / "m.jsonl", [row, missing])
    with pytest.raises(BenchmarkError, match=r":2: missing field 'hidden_tests' \(stdin/stdout format needs task_id, statement, hidden_tests\)"):
        load_benchmark(str(path))
    bad_case = {**row, "hidden_tests": [{"input": "1"}]}
    with pytest.raises(BenchmarkError, match=":1: each entry of 'hidden_tests' needs string fields 'input' and 'output'"):
        load_benchmark(str(write_jsonl(tmp_path / "c.jsonl", [bad_case])))


def _lcb_private(tests: list[dict]) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def _lcb_row(question_id: str, public: list[dict], private: list[dict]) -> dict:
    return {
        "question_title": "Add", "question_content": "Read a and b, print a+b.", "platform": "atcoder",
        "question_id": question_id, "contest_id": "abc1", "contest_date": "2024-01-01T00:00:00",
        "starter_code": "", "difficulty": "easy",
        "public_test_cases": json.dumps(public), "private_test_cases": _lcb_private(private),
        "metadata": "{}",
    }


def test_livecodebench_layout(tmp_path):
    stdin = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    private = [{"input": "5 7\n", "output": "12\n", "testtype": "stdin"},
               {"input": "PRIVATE_CANARY 0 0\n", "output": "0\n", "testtype": "stdin"}]
    functional = [{"input": "[1, 2]", "output": "3", "testtype": "functional"}]
    rows = [_lcb_row("abc1_a", stdin, private), _lcb_row("lc_1", functional, functional)]
    benchmark = load_benchmark(str(write_jsonl(tmp_path / "lcb.jsonl", rows)))
    (problem,) = benchmark.problems  # the functional (LeetCode-style) row is skipped
    assert problem.task_id == "atcoder/abc1_a"
    assert problem.public_tests == StdioTests((("1 2\n", "3\n"),))
    assert problem.hidden_suites[0].tests.cases == (("1 2\n", "3\n"), ("5 7\n", "12\n"), ("PRIVATE_CANARY 0 0\n", "0\n"))
    assert "PRIVATE_CANARY" not in problem.prompt
    program = "a, b = input().split()[-2:]\nprint(int(a) + int(b))\n"
    assert verify(program, problem.hidden_suites[0].tests).passed


def test_livecodebench_refuses_pickled_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    row = _lcb_row("x", [], [])
    row["private_test_cases"] = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    path = write_jsonl(tmp_path / "evil.jsonl", [row])
    with pytest.raises(BenchmarkError, match=r":1: 'private_test_cases' is neither JSON nor base64\(zlib\(pickle\(JSON\)\)\)"):
        load_benchmark(str(path))


def test_mbpp_style_evalplus_row_public_assert_gets_undeclared_math_import(tmp_path):
    row = {
        "task_id": "Mine/1",
        "prompt": '"""\nWrite a function to halve a number.\nassert math.isclose(half(3), 1.5)\n"""\n',
        "entry_point": "half",
        "canonical_solution": "def half(x):\n    return x / 2\n",
        "base_input": [[3], [4]],
        "plus_input": [],
        "assertion": "assert math.isclose(half(3), 1.5)\n",
        "atol": 0,
    }
    (problem,) = load_benchmark(str(write_jsonl(tmp_path / "m.jsonl", [row]))).problems
    assert problem.public_tests.imports == "import math"
    assert problem.completion_prefix == "" and problem.reference_solution == row["canonical_solution"]
    assert [s.name for s in problem.hidden_suites] == ["base"]
    assert problem.hidden_suites[0].tests == CallTests("half", ((3,), (4,)), (1.5, 2.0))
    assert verify(problem.reference_solution, problem.public_tests).passed


def test_second_load_comes_from_the_cache_and_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    import tasks.benchmarks.reference_runs as reference_runs

    row = {**HUMANEVAL_ROW}
    path = write_jsonl(tmp_path / "cached.jsonl", [row])
    first = load_benchmark(str(path))
    cache_dir = tmp_path / "cache" / "benchmarks"
    assert sorted(p.name.split("-")[0] for p in cache_dir.iterdir()) == ["benchmark", "reference"]

    def no_sandbox():
        raise AssertionError("a cached load must not execute anything")

    monkeypatch.setattr(reference_runs, "default_executor", no_sandbox)
    assert load_benchmark(str(path)) == first
    for cached in cache_dir.iterdir():
        cached.write_bytes(b"not a pickle")
    with pytest.raises(AssertionError, match="must not execute"):
        load_benchmark(str(path))  # torn cache files are ignored, so the work is redone
    monkeypatch.undo()
    monkeypatch.setenv("PATFLOW_DATASET_CACHE_DIR", str(tmp_path / "cache"))
    assert load_benchmark(str(path)) == first


def test_json_array_records_report_their_line(tmp_path):
    good = {"task_id": 1, "prompt": "Write f.", "code": "def f():\n    return 1\n", "test_list": ["assert f() == 1"]}
    bad = {k: v for k, v in good.items() if k != "code"} | {"task_id": 2}
    path = tmp_path / "sanitized.json"
    path.write_text("[\n" + json.dumps(good, indent=1) + ",\n" + json.dumps(bad, indent=1) + "\n]\n")
    line = 2 + json.dumps(good, indent=1).count("\n") + 1
    with pytest.raises(BenchmarkError, match=rf"^{path}:{line}: missing field 'code' \(MBPP sanitized format needs task_id, prompt, code, test_list\)$"):
        load_benchmark(str(path))
    path.write_text("[\n" + json.dumps(good) + ",\n")
    with pytest.raises(BenchmarkError, match=r":3: unterminated JSON array"):
        load_benchmark(str(path))
    path.write_text("[\n" + json.dumps(good) + "\n]\n")
    (problem,) = load_benchmark(str(path)).problems
    assert problem.task_id == "MBPP/1" and problem.entry_point == "f"
    assert verify(problem.reference_solution, problem.hidden_suites[0].tests).passed
