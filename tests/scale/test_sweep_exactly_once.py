"""Exactly-once in the raw files, with real process deaths: a sweep SIGKILLed and resumed, and a
real external Dask cluster (``dask scheduler`` + two ``dask worker``s on 127.0.0.1) losing a
worker mid-run. Every check reads the Parquet files directly (DuckDB ``read_parquet``), never
patflow's deduplicating views: that is what pandas, polars or a user's own query would see."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

# Generous limits: a loaded 2-core machine took ~4 minutes from `patflow run` to the first commit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

REPO_ROOT = Path(__file__).resolve().parents[2]
PATFLOW = str(Path(sys.executable).parent / "patflow")
ITEMS_KEY = "task_id, policy_spec, seed"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """One Prefect home for these tests (a fresh database is migrated once, not per test)."""
    return tmp_path_factory.mktemp("prefect-home")


def environment(prefect_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PREFECT_HOME"] = str(prefect_home)  # never another process's database
    env.pop("PREFECT_API_URL", None)  # the CLI starts its own API, as a user's would
    env["PATFLOW_NO_TIMEOUT_RECHECK"] = "1"
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"  # a loaded machine
    return env


def sweep_command(store: Path, run_id: str, limit: int, *extra: str) -> list[str]:
    return [
        PATFLOW, "run", "--benchmark", "humaneval", "--policy", "standard", "--policy", "pat",
        "--limit", str(limit), "--seeds", "1", "--chunk-size", "2", "--store", str(store),
        "--run-id", run_id, "--cache-dir", str(store.parent / "cache"), "--format", "csv", *extra,
    ]  # fmt: skip


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # A session of its own: SIGKILL to the group takes the CLI, its Prefect server and its
    # Dask processes at once, as a power cut or the OOM killer would.
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def committed_files(store: Path) -> int:
    return len(list((store / "outcomes").rglob("*.parquet")))


def wait_for_commits(store: Path, process: subprocess.Popen, at_least: int, log: Path, timeout_s=1200):
    deadline = time.monotonic() + timeout_s
    while committed_files(store) < at_least:
        assert process.poll() is None, f"the sweep ended before it could be killed:\n{log.read_text()}"
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def raw(store: Path, table: str) -> str:
    return f"read_parquet('{store}/{table}/**/*.parquet', hive_partitioning = true)"


def raw_totals(store: Path) -> dict[str, object]:
    con = duckdb.connect()
    outcomes, distinct, passed = con.execute(
        f"SELECT count(*), count(DISTINCT ({ITEMS_KEY})), sum(passed::int) FROM {raw(store, 'outcomes')}"
    ).fetchone()
    calls, tokens = con.execute(
        f"SELECT count(*), sum(input_tokens + output_tokens) FROM {raw(store, 'calls')}"
    ).fetchone()
    verifications, verifications_passed = con.execute(
        f"SELECT count(*), sum(passed::int) FROM {raw(store, 'verifications')}"
    ).fetchone()
    per_item = con.execute(
        f"""SELECT {ITEMS_KEY}, count(*) FROM {raw(store, 'calls')} GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    return {
        "outcomes": outcomes, "distinct_items": distinct, "passed": passed, "calls": calls,
        "tokens": tokens, "verifications": verifications,
        "verifications_passed": verifications_passed, "calls_per_item": per_item,
    }  # fmt: skip


def run_to_end(command, env, log: Path) -> str:
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_sigkilled_sweep_resumes_to_exactly_the_uninterrupted_result(tmp_path, prefect_home):
    env = environment(prefect_home)
    store = tmp_path / "runs"
    limit = 20  # 40 work items in 20 chunks of 2
    sweep = start(sweep_command(store, "killed", limit, "--workers", "2"), env, tmp_path / "killed.log")
    try:
        wait_for_commits(store, sweep, at_least=3, log=tmp_path / "killed.log")
    finally:
        kill_group(sweep)
    committed_at_kill = committed_files(store)
    assert committed_at_kill < 20, "the sweep finished before the kill: nothing was tested"
    items_at_kill = duckdb.connect().execute(f"SELECT count(*) FROM {raw(store, 'outcomes')}").fetchone()[0]

    output = run_to_end(sweep_command(store, "killed", limit, "--workers", "1"), env, tmp_path / "resume.log")
    # The resume ran only what was not committed, and said how much it skipped.
    assert f"{40 - items_at_kill} work items run ({items_at_kill} already stored)" in output

    reference_store = tmp_path / "reference"
    run_to_end(sweep_command(reference_store, "whole", limit, "--workers", "1"), env, tmp_path / "whole.log")
    resumed, whole = raw_totals(store), raw_totals(reference_store)
    assert resumed["outcomes"] == resumed["distinct_items"] == 40
    assert resumed == whole
    assert not list(store.rglob("*.tmp"))


def test_external_dask_cluster_losing_a_worker_leaves_one_outcome_per_item(tmp_path, prefect_home):
    env = environment(prefect_home)
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{port}"
    processes = [
        start([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
              env, logs / "scheduler.log")
    ]  # fmt: skip
    try:
        time.sleep(5)
        workers = [
            start([dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                   "--host", "127.0.0.1"], env, logs / f"worker{i}.log")
            for i in range(2)
        ]  # fmt: skip
        processes += workers
        store = tmp_path / "runs"
        limit = 16  # 32 work items in 16 chunks of 2
        sweep = start(sweep_command(store, "lost", limit, "--dask-address", address), env, logs / "sweep.log")
        processes.append(sweep)
        wait_for_commits(store, sweep, at_least=4, log=logs / "sweep.log")
        kill_group(workers[0])  # nanny and worker at once: its in-memory results are gone
        assert sweep.wait(timeout=1500) == 0, (logs / "sweep.log").read_text()
    finally:
        for process in processes:
            kill_group(process)
    totals = raw_totals(store)
    assert totals["outcomes"] == totals["distinct_items"] == 32
    # Calls and verifications too hold one copy of each item's rows: per item, as many calls as
    # its outcome row says it made.
    con = duckdb.connect()
    mismatched = con.execute(
        f"""SELECT o.task_id FROM {raw(store, 'outcomes')} o
            LEFT JOIN (SELECT {ITEMS_KEY}, count(*) AS n FROM {raw(store, 'calls')} GROUP BY ALL) c
              USING (task_id, policy_spec, seed)
            WHERE coalesce(c.n, 0) <> o.model_calls"""
    ).fetchall()
    assert mismatched == []
