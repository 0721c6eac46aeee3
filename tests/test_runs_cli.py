"""``patflow runs``: every run in a store, complete or interrupted, with its config and cost.

The runs are written by the production path without Prefect: ``claim_run`` writes the manifest
and ``run_chunk`` (what each Dask worker calls) commits chunks; the interrupted run commits only
some of its chunks, as a sweep killed midway does."""

from __future__ import annotations

import json
import textwrap

import duckdb
from typer.testing import CliRunner

from flows.cli import app
from flows.sweep import claim_run
from tasks.sweep import plan_chunks, run_chunk
from tasks.sweep_config import load_sweep_config


def config_file(tmp_path, run_id: str):
    path = tmp_path / f"{run_id}.yaml"
    path.write_text(textwrap.dedent(f"""\
        run_id: {run_id}
        store: {tmp_path / "runs"}
        cache_dir: {tmp_path / "cache"}
        benchmarks: [{{name: stdio-demo, limit: 3}}, {{name: humaneval, limit: 2}}]
        configurations: [{{name: s, generator: sim/small, planner: sim/large}}]
        policies: [standard, {{name: pat, label: pat-2, params: {{max_attempts: 2}}}}]
        concurrency: {{chunk_size: 2}}
    """))
    return load_sweep_config(path)


def test_runs_lists_a_complete_and_an_interrupted_run(tmp_path):
    complete = config_file(tmp_path, "done")
    claim_run(complete)
    chunks, total = plan_chunks(complete)
    for chunk in chunks:
        run_chunk(chunk)
    interrupted = config_file(tmp_path, "halfway")
    claim_run(interrupted)
    chunks, _ = plan_chunks(interrupted)
    committed = sum(run_chunk(chunk).items for chunk in chunks[:2])

    result = CliRunner().invoke(app, ["runs", "--store", str(tmp_path / "runs"), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["run_id"]: row for row in json.loads(result.output)}
    assert set(rows) == {"done", "halfway"}
    assert total == (3 + 2) * 2
    assert (rows["done"]["items_done"], rows["done"]["items_total"], rows["done"]["status"]) == (10, 10, "complete")
    assert (rows["halfway"]["items_done"], rows["halfway"]["items_total"], rows["halfway"]["status"]) == (
        committed, 10, "interrupted",
    )  # fmt: skip
    assert committed == 4
    for run_id, config in (("done", complete), ("halfway", interrupted)):
        row = rows[run_id]
        assert row["config_sha256"] == config.config_sha256()[:12]
        assert row["benchmarks"] == "stdio-demo, humaneval"
        assert row["policies"] == "standard, pat-2"
        assert row["models"] == "s=sim/small+sim/large"
        assert row["started_at"] and row["ended_at"] and row["started_at"] <= row["ended_at"]
        billed = duckdb.connect().execute(
            f"select sum(cost_usd) from read_parquet('{tmp_path}/runs/calls/run_id={run_id}/*.parquet')"
        ).fetchone()[0]
        assert row["cost_usd"] == round(billed, 6) and billed > 0

    table = CliRunner().invoke(app, ["runs", "--store", str(tmp_path / "runs")], env={"COLUMNS": "300"})
    assert table.exit_code == 0 and "interrupted" in table.output and "complete" in table.output

    # resuming the interrupted run plans exactly the items it has not committed
    chunks, _ = plan_chunks(interrupted)
    assert sum(len(chunk.items) for chunk in chunks) == 10 - committed


def test_runs_on_a_missing_store_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["runs", "--store", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such run store" in result.output


def test_a_benchmark_entry_whose_dataset_is_null_is_listed_by_its_name(tmp_path):
    # A manifest written from a hand-built RunConfig: the benchmark carries no resolved dataset.
    manifests = tmp_path / "runs" / "manifests"
    manifests.mkdir(parents=True)
    (manifests / "byhand.json").write_text(json.dumps({
        "run_id": "byhand", "config_sha256": "0" * 64, "started_at": "2026-12-02T00:00:00+00:00",
        "config": {"benchmarks": [{"name": "humaneval", "dataset": None}], "policies": [], "configurations": []},
        "extra": {},
    }))  # fmt: skip
    result = CliRunner().invoke(app, ["runs", "--store", str(tmp_path / "runs"), "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert (row["run_id"], row["benchmarks"]) == ("byhand", "humaneval")
