"""Verify solutions produced elsewhere (``patflow evaluate``).

Samples are EvalPlus-style JSON Lines: ``task_id`` and either ``solution`` (a full program) or
``completion`` (appended to the problem's prompt). Every sample is scored by
``tasks.scoring.score_program`` on all of its problem's hidden suites; a sample passes iff
every suite passes. Each row records the import preamble mode it ran under, and
``write_manifest`` writes what the run was (dataset, samples file, mode, counts). Bad input
stops before any work with one line naming the file, the line and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.preamble import DEFAULT_IMPORTS, preamble_text
from tasks.records import DatasetInfo, Problem
from tasks.scoring import Verify, score_program

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
        pa.field("imports", pa.string(), nullable=False),  # the preamble mode: none | standard
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


def evaluate_sample(sample: Sample, problem: Problem, verify: Verify, imports: str = DEFAULT_IMPORTS) -> dict:
    """One verdicts row: ``score_program`` on the sample, with the imports mode it ran under."""
    score = score_program(sample.program, problem, verify)
    status = score.status
    return {
        "task_id": sample.task_id,
        "sample_index": sample.sample_index,
        "passed": score.passed,
        "status": status,
        "error_type": status.split(":", 1)[1] if status.startswith("error:") else None,
        "first_failure": score.first_failure,
        "failed_suite": score.failed_suite,
        "tests_total": score.tests_total,
        "tests_passed": score.tests_passed,
        "duration_ms": score.duration_ms,
        "suites": [{"suite": s.suite, "passed": s.verdict.passed, "status": s.verdict.status} for s in score.suites],
        "imports": imports,
    }


def evaluate_samples(
    samples: Sequence[Sample],
    problems_by_id: dict[str, Problem],
    verify: Verify,
    workers: int,
    on_done: Callable[[dict], None] = lambda row: None,
    imports: str = DEFAULT_IMPORTS,
) -> list[dict]:
    """Rows in sample order; ``verify(program, tests, time_limits_s) -> Verdict`` runs in threads
    and must apply the ``imports`` mode that the rows record."""

    def work(sample: Sample) -> dict:
        row = evaluate_sample(sample, problems_by_id[sample.task_id], verify, imports)
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


def write_manifest(
    output_dir: Path, *, dataset: DatasetInfo, samples_path: Path, imports: str, rows: Sequence[dict]
) -> Path:
    """``DIR/manifest.json``: which dataset and samples file, under which imports mode, with what
    result: enough to re-run the evaluation, and to tell runs of the two modes apart."""
    document = {
        "command": "patflow evaluate",
        "dataset": asdict(dataset),
        "samples": str(samples_path),
        "samples_sha256": hashlib.sha256(samples_path.read_bytes()).hexdigest(),
        "imports": imports,
        "preamble": preamble_text(imports),
        "samples_total": len(rows),
        "passed": sum(bool(row["passed"]) for row in rows),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / "manifest.json"
    temporary = output_dir / ".manifest.json.tmp"
    with temporary.open("w", encoding="utf-8") as stream:
        json.dump(document, stream, indent=2, sort_keys=True)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    temporary.replace(target)
    return target
