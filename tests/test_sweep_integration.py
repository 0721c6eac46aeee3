"""The whole path with real parts: Prefect flow, Dask scheduler and worker processes,
litellm with the simulated models, subprocess sandboxes, Parquet, DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.integration


def run_cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def query(sql: str) -> list[tuple]:
    return duckdb.connect().execute(sql).fetchall()


def parquet(store: Path, table: str) -> str:
    return f"read_parquet('{store}/{table}/**/*.parquet', hive_partitioning=true, union_by_name=true)"


def sweep_args(store: Path, run_id: str, *extra: str) -> list[str]:
    return [
        "run", "--benchmark", "humaneval", "--policy", "standard", "--policy", "pat",
        "--generator", "sim/small", "--planner", "sim/large", "--limit", "6", "--seeds", "1",
        "--store", str(store), "--run-id", run_id, "--chunk-size", "4",
        "--cache-dir", str(store.parent / "cache"), *extra,
    ]


def test_sweep_runs_end_to_end_and_resumes(prefect_harness, tmp_path):
    store = tmp_path / "runs"
    result = run_cli(*sweep_args(store, "it", "--workers", "2"))
    assert "pat" in result.output and "standard" in result.output

    outcomes = query(f"select task_id, policy, seed, passed, planner_invoked from {parquet(store, 'outcomes')}")
    assert len(outcomes) == 12 and len({(t, p, s) for t, p, s, *_ in outcomes}) == 12
    # standard never calls the planner; pat calls it exactly when its root trial failed
    assert not any(invoked for _, policy, _, _, invoked in outcomes if policy == "standard")
    escalations = query(
        f"""select task_id, planner_invoked, coalesce(root_trial_passed = false, false) as trial_failed
            from {parquet(store, 'outcomes')} where policy = 'pat'"""
    )
    assert all(invoked == trial_failed for _, invoked, trial_failed in escalations)
    roles = dict(query(f"select role, count(*) from {parquet(store, 'calls')} group by role"))
    assert roles["generator"] >= 12

    # Crash simulation: lose one committed chunk; the same command re-runs exactly its items.
    chunk = sorted((store / "outcomes").rglob("*.parquet"))[0]
    lost = query(f"select count(*) from read_parquet('{chunk}')")[0][0]
    chunk.unlink()
    result = run_cli(*sweep_args(store, "it", "--workers", "1"))
    assert f"{lost} work items run (" in result.output and f"({12 - lost} already stored)" in result.output
    keys = query(f"select task_id, policy, seed from {parquet(store, 'outcomes')}")
    assert len(keys) == 12 and len(set(keys)) == 12


def test_sweep_on_an_existing_dask_cluster_by_address(prefect_harness, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        store = tmp_path / "runs"
        run_cli(*sweep_args(store, "remote", "--dask-address", cluster.scheduler_address))
    count = query(f"select count(*) from {parquet(store, 'outcomes')}")[0][0]
    assert count == 12


def test_a_different_config_under_an_existing_run_id_is_refused(demo_store):
    manifest_before = (demo_store / "manifests" / "demo.json").read_text()
    result = CliRunner().invoke(
        app, ["run", "--benchmark", "humaneval", "--limit", "3", "--store", str(demo_store), "--run-id", "demo"]
    )
    assert result.exit_code == 2, result.output
    assert "run 'demo'" in result.output and "different configuration" in result.output
    assert (demo_store / "manifests" / "demo.json").read_text() == manifest_before


def test_sweep_through_litellm_openai_http_path_to_a_real_loopback_server(prefect_harness, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "models"))
    from model_fixtures import SimServerProcess, free_port

    server = SimServerProcess(free_port(), tmp_path / "sim.log", "--benchmark", "humaneval").start()
    try:
        store = tmp_path / "runs"
        run_cli(
            "run", "--benchmark", "humaneval", "--limit", "4", "--workers", "1",
            "--generator", "openai/sim-small", "--planner", "openai/sim-large",
            "--api-base", server.api_base, "--store", str(store), "--run-id", "http",
            "--cache-dir", str(tmp_path / "cache"),
        )  # fmt: skip
        stats = server.stats()
    finally:
        server.kill()
    calls = query(f"select model, cached, error from {parquet(store, 'calls')}")
    assert calls and all(error is None for _, _, error in calls)
    assert {model for model, _, _ in calls} <= {"openai/sim-small", "openai/sim-large"}
    uncached = sum(1 for _, cached, _ in calls if not cached)
    assert stats["requests"] == uncached > 0  # every call that was not a cache hit reached the server
    assert query(f"select count(*) from {parquet(store, 'outcomes')}")[0][0] == 8


def test_two_benchmarks_and_two_model_configurations_in_one_run(prefect_harness, tmp_path):
    """One flow run over two benchmarks that share task ids (HumanEval and a copy of its first
    problems under another name) x two model configurations: no work-item key collides, the
    comparison is printed per benchmark, the flow publishes it as an artifact, resume is exact."""
    import gzip
    import json
    import textwrap

    from prefect.artifacts import Artifact

    from tasks.benchmarks.sources import packaged_humaneval_path

    with gzip.open(packaged_humaneval_path(), "rt") as handle:
        rows = [json.loads(line) for _, line in zip(range(3), handle)]
    copy = tmp_path / "he-copy.jsonl"
    copy.write_text("".join(json.dumps(row) + "\n" for row in rows))
    store = tmp_path / "runs"
    config = tmp_path / "sweep.yaml"
    config.write_text(textwrap.dedent(f"""\
        run_id: matrix
        store: {store}
        cache_dir: {tmp_path / "cache"}
        benchmarks:
          - {{name: humaneval, limit: 3}}
          - {{name: {copy}}}
        models:
          small: {{model: sim/small}}
          large: {{model: sim/large}}
        configurations:
          - {{name: small+large, generator: small, planner: large}}
          - {{name: large, generator: large, planner: large}}
        policies:
          - {{name: pat, configurations: [small+large]}}
          - {{name: standard}}
        concurrency: {{chunk_size: 4}}
    """))
    result = run_cli("run", "--config", str(config), "--workers", "1")
    assert "policy_comparison — humaneval — run matrix" in result.output
    assert "policy_comparison — he-copy — run matrix" in result.output

    keys = query(
        f"select dataset_name, generator_model, planner_model, task_id, policy, seed from {parquet(store, 'outcomes')}"
    )
    assert len(keys) == len(set(keys)) == 2 * 3 * 3  # benchmarks x problems x (pat, standard, standard)
    assert {k[3] for k in keys if k[0] == "he-copy"} == {k[3] for k in keys if k[0] == "humaneval"}
    assert {(k[1], k[4]) for k in keys} == {("sim/small", "pat"), ("sim/small", "standard"), ("sim/large", "standard")}

    from flows.sweep import comparison_by_benchmark

    tables = dict(comparison_by_benchmark(str(store), "matrix"))
    assert set(tables) == {"humaneval", "he-copy"}
    for table in tables.values():
        rows = table.to_pylist()
        assert len(rows) == 3 and all(row["problems"] == 3 and row["work_items"] == 3 for row in rows)

    artifact = Artifact.get("comparison-matrix")
    assert artifact is not None and "## humaneval" in artifact.data and "## he-copy" in artifact.data
    assert "| pat | sim/small | sim/large |" in artifact.data

    manifest = json.loads((store / "manifests" / "matrix.json").read_text())
    assert manifest["extra"]["work_items_total"] == 18
    assert [b["dataset"]["name"] for b in manifest["config"]["benchmarks"]] == ["humaneval", "he-copy"]

    # lose one committed chunk: the same command re-runs exactly its items
    chunk = sorted((store / "outcomes").rglob("*.parquet"))[0]
    lost = query(f"select count(*) from read_parquet('{chunk}')")[0][0]
    chunk.unlink()
    result = run_cli("run", "--config", str(config), "--workers", "1")
    assert f"{lost} work items run ({18 - lost} already stored)" in result.output


def test_finished_chunks_leave_their_worker(prefect_harness, tmp_path, monkeypatch):
    """A worker keeps no finished chunk (its work items, its summary) beyond the flow's window of
    chunks in flight: the flow drops each future once it has the result, so Dask forgets it."""
    from distributed import LocalCluster, get_worker

    import flows.sweep as sweep_flow

    # Finished tasks the worker still holds, seen as each chunk starts; a file, because Prefect
    # ships the task (and this wrapper with it) to the worker as a copy.
    log = tmp_path / "held.txt"
    run_chunk = sweep_flow.run_chunk

    def counting_run_chunk(chunk):
        held = sum(1 for task in get_worker().state.tasks.values() if task.state == "memory")
        with open(log, "a") as handle:
            handle.write(f"{held}\n")
        return run_chunk(chunk)

    monkeypatch.setattr(sweep_flow, "run_chunk", counting_run_chunk)
    # In-process worker threads, so the counting wrapper above is the one each chunk calls.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        store = tmp_path / "runs"
        args = sweep_args(store, "window", "--dask-address", cluster.scheduler_address)
        args[args.index("--chunk-size") + 1] = "1"
        run_cli(*args)
    held = [int(line) for line in log.read_text().split()]
    assert len(held) == 12  # one chunk per work item
    # The window is two chunks per thread; before it, the 12th chunk saw the 11 before it held.
    assert max(held) <= sweep_flow.chunks_in_flight(1), held
    assert query(f"select count(*) from {parquet(store, 'outcomes')}")[0][0] == 12
