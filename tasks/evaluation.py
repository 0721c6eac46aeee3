"""Verify solutions produced elsewhere (``patflow evaluate``).

Samples are EvalPlus-style JSON Lines: ``task_id`` and either ``solution`` (a full program) or
``completion`` (appended to the problem's prompt). Every sample is scored on all of its
problem's hidden suites; a sample passes iff every suite passes. Bad input stops before any
work with one line naming the file, the line and what was expected.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.records import Problem

VERDICTS_SCHEMA = pa.schema(
    [
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("sample_index", pa.int64(), nullable=False),  # 0-based line number in the file
        pa.field("passed", pa.bool_(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error_type", pa.string()),  # the exception type of an error:<Type> status
        pa.field("first_failure", pa.string()),
        pa.field("failed_suite", pa.string()),
        pa.field("tests_total", pa.int64()),
        pa.field("tests_passed", pa.int64()),
        pa.field("duration_ms", pa.float64()),
        pa.field(
            "suites",
            pa.list_(
                pa.struct(
                    [("suite", pa.string()), ("passed", pa.bool_()), ("status", pa.string())]
                )
            ),
        ),
    ]
)


class SamplesError(ValueError):
    pass


@dataclass(frozen=True)
class Sample:
    sample_index: int
    task_id: str
    program: str


def read_samples(path: Path, problems_by_id: dict[str, Problem], dataset_name: str) -> list[Sample]:
    if not path.is_file():
        raise SamplesError(f"{path}: no such samples file")
    samples = []
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                raise SamplesError(f"{path}:{line_number}: empty line (expected one JSON object per line)")
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as error:
                raise SamplesError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise SamplesError(f"{where}: expected a JSON object with task_id and solution or completion")
            task_id = record.get("task_id")
            if not isinstance(task_id, str):
                raise SamplesError(f"{where}: missing string field 'task_id'")
            problem = problems_by_id.get(task_id)
            if problem is None:
                raise SamplesError(f"{where}: task_id '{task_id}' is not in dataset '{dataset_name}'")
            if isinstance(record.get("solution"), str):
                program = record["solution"]
            elif isinstance(record.get("completion"), str):
                program = problem.completion_prefix + record["completion"]
            else:
                raise SamplesError(f"{where}: expected a string field 'solution' or 'completion'")
            samples.append(Sample(line_number - 1, task_id, program))
    return samples


def evaluate_sample(sample: Sample, problem: Problem, verify: Callable) -> dict:
    suites = []
    first_failure = None
    total_tests = passed_tests = 0
    duration_ms = 0.0
    for suite in problem.hidden_suites:
        verdict = verify(sample.program, suite.tests, suite.time_limits_s)
        suites.append({"suite": suite.name, "passed": verdict.passed, "status": verdict.status})
        total_tests += verdict.tests_total
        passed_tests += verdict.tests_passed
        duration_ms += verdict.duration_ms
        if not verdict.passed and first_failure is None:
            first_failure = (suite.name, verdict)
    status = "passed" if first_failure is None else first_failure[1].status
    return {
        "task_id": sample.task_id,
        "sample_index": sample.sample_index,
        "passed": first_failure is None and bool(suites),
        "status": status if suites else "no_hidden_tests",
        "error_type": status.split(":", 1)[1] if status.startswith("error:") else None,
        "first_failure": first_failure[1].first_failure if first_failure else None,
        "failed_suite": first_failure[0] if first_failure else None,
        "tests_total": total_tests,
        "tests_passed": passed_tests,
        "duration_ms": duration_ms,
        "suites": suites,
    }


def evaluate_samples(
    samples: Sequence[Sample],
    problems_by_id: dict[str, Problem],
    verify: Callable,
    workers: int,
    on_done: Callable[[dict], None] = lambda row: None,
) -> list[dict]:
    """Rows in sample order; ``verify(program, tests, time_limits_s) -> Verdict`` runs in threads."""

    def work(sample: Sample) -> dict:
        row = evaluate_sample(sample, problems_by_id[sample.task_id], verify)
        on_done(row)
        return row

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, samples))


def write_verdicts(rows: Iterable[dict], output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / "verdicts.parquet"
    temporary = output_dir / ".verdicts.parquet.tmp"
    pq.write_table(pa.Table.from_pylist(list(rows), schema=VERDICTS_SCHEMA), temporary)
    temporary.replace(target)
    return target
