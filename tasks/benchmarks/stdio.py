"""Standard-input/standard-output problems: patflow's own JSONL format and LiveCodeBench's.

patflow stdio format, one JSON object per line::

    {"task_id": "stdio/sum", "statement": "Read two integers ...",
     "public_tests": [{"input": "1 2\\n", "output": "3\\n"}],
     "hidden_tests": [{"input": "...", "output": "..."}, ...],
     "time_limit_s": 2.0, "reference_solution": "print(sum(map(int, input().split())))"}

Required: ``task_id``, ``statement``, ``hidden_tests``. The prompt is the statement followed by
the public examples; hidden tests never appear in it. ``public_tests="none"`` drops both the
public test spec and the examples patflow adds to the prompt.

LiveCodeBench ``code_generation_lite`` rows (``question_content``, ``public_test_cases``,
``private_test_cases``, ``metadata``...): ``public_test_cases`` is a JSON string;
``private_test_cases`` is either a JSON string or base64(zlib(pickle(JSON string))). The pickle
is read with an unpickler that refuses every class (only plain strings/bytes load), so a
hostile file cannot run code. Only ``testtype == "stdin"`` tests are supported; rows with
functional (LeetCode-style ``class Solution``) tests are skipped and counted in
``skipped_functional``. The hidden suite is public + private tests, as LiveCodeBench scores.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from pathlib import Path
from typing import Any

from sandbox.types import StdioTests

from tasks.benchmarks.drafts import Draft
from tasks.benchmarks.sources import BenchmarkError, require_fields
from tasks.records import DatasetInfo, HiddenSuite, Problem

STDIO_FIELDS = ("task_id", "statement", "hidden_tests")
LIVECODEBENCH_FIELDS = ("question_content", "public_test_cases", "private_test_cases")
DEFAULT_STDIO_TIME_LIMIT_S = 5.0


def stdio_drafts(
    path: Path, records: list[tuple[int, dict[str, Any]]], info: DatasetInfo, public_mode: str
) -> list[Draft]:
    drafts = []
    for line_number, record in records:
        require_fields(path, line_number, record, STDIO_FIELDS, "stdin/stdout")
        public_cases = _cases(path, line_number, record.get("public_tests") or [], "public_tests")
        hidden_cases = _cases(path, line_number, record["hidden_tests"], "hidden_tests")
        if not hidden_cases:
            raise BenchmarkError(f"{path}:{line_number}: 'hidden_tests' is empty (at least one test needed)")
        time_limit_s = float(record.get("time_limit_s") or DEFAULT_STDIO_TIME_LIMIT_S)
        problem = _problem(
            str(record["task_id"]), record["statement"], public_cases, hidden_cases, time_limit_s,
            record.get("reference_solution"), info, public_mode,
        )
        drafts.append(Draft(problem.task_id, (), lambda runs, problem=problem: problem))
    return drafts


def livecodebench_drafts(
    path: Path, records: list[tuple[int, dict[str, Any]]], info: DatasetInfo, public_mode: str
) -> tuple[list[Draft], int]:
    """Drafts, and how many rows were skipped for having functional (non-stdin) tests."""
    drafts = []
    skipped_functional = 0
    for line_number, record in records:
        require_fields(path, line_number, record, LIVECODEBENCH_FIELDS, "LiveCodeBench")
        public_raw = _json_field(path, line_number, record["public_test_cases"], "public_test_cases")
        private_raw = _private_tests(path, line_number, record["private_test_cases"])
        every = list(public_raw) + list(private_raw)
        if any(test.get("testtype", "stdin") != "stdin" for test in every):
            skipped_functional += 1
            continue
        public_cases = _cases(path, line_number, public_raw, "public_test_cases")
        hidden_cases = public_cases + _cases(path, line_number, private_raw, "private_test_cases")
        if not hidden_cases:
            raise BenchmarkError(f"{path}:{line_number}: no tests in public_test_cases or private_test_cases")
        task_id = str(record.get("question_id") or record.get("question_title") or f"line-{line_number}")
        if record.get("platform"):
            task_id = f"{record['platform']}/{task_id}"
        statement = record["question_content"]
        if record.get("starter_code"):
            statement += "\n\nStarter code:\n" + record["starter_code"]
        problem = _problem(
            task_id, statement, public_cases, hidden_cases, DEFAULT_STDIO_TIME_LIMIT_S, None, info, public_mode
        )
        drafts.append(Draft(problem.task_id, (), lambda runs, problem=problem: problem))
    return drafts, skipped_functional


def _problem(
    task_id: str, statement: str, public_cases: list[tuple[str, str]], hidden_cases: list[tuple[str, str]],
    time_limit_s: float, reference: str | None, info: DatasetInfo, public_mode: str,
) -> Problem:
    shown = public_cases if public_mode == "default" else []
    prompt = statement.rstrip() + "\n"
    for number, (stdin, stdout) in enumerate(shown, start=1):
        prompt += f"\nExample {number}\nInput:\n{stdin.rstrip()}\nOutput:\n{stdout.rstrip()}\n"
    return Problem(
        task_id=task_id,
        prompt=prompt,
        entry_point="",
        public_tests=StdioTests(cases=tuple(shown)) if shown else None,
        hidden_suites=(
            HiddenSuite("base", StdioTests(cases=tuple(hidden_cases)), (time_limit_s,) * len(hidden_cases)),
        ),
        reference_solution=reference,
        test_format="stdio",
        dataset=info,
        completion_prefix="",
        time_limit_s=time_limit_s,
        public_time_limits_s=(time_limit_s,) * len(shown) if shown else None,
    )


def _cases(path: Path, line_number: int, tests: Any, field_name: str) -> list[tuple[str, str]]:
    if not isinstance(tests, list):
        raise BenchmarkError(f"{path}:{line_number}: '{field_name}' must be a list of {{input, output}} objects")
    cases = []
    for test in tests:
        if not isinstance(test, dict) or not isinstance(test.get("input"), str) or not isinstance(test.get("output"), str):
            raise BenchmarkError(
                f"{path}:{line_number}: each entry of '{field_name}' needs string fields 'input' and 'output'"
            )
        cases.append((test["input"], test["output"]))
    return cases


def _json_field(path: Path, line_number: int, value: Any, field_name: str) -> list:
    if isinstance(value, list):
        return value
    try:
        decoded = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        raise BenchmarkError(f"{path}:{line_number}: '{field_name}' is not a JSON list of tests") from None
    if not isinstance(decoded, list):
        raise BenchmarkError(f"{path}:{line_number}: '{field_name}' is not a JSON list of tests")
    return decoded


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ARG002 - refuse everything
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _private_tests(path: Path, line_number: int, value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            return _json_field(path, line_number, value, "private_test_cases")
        except BenchmarkError:
            pass
    try:
        raw = zlib.decompress(base64.b64decode(value, validate=False))
        decoded = _PlainDataUnpickler(io.BytesIO(raw)).load()
    except Exception as error:  # noqa: BLE001 - any decoding failure is the same user error
        raise BenchmarkError(
            f"{path}:{line_number}: 'private_test_cases' is neither JSON nor base64(zlib(pickle(JSON))) "
            f"({type(error).__name__})"
        ) from None
    if isinstance(decoded, bytes):
        decoded = decoded.decode("utf-8", errors="replace")
    return _json_field(path, line_number, decoded, "private_test_cases")
