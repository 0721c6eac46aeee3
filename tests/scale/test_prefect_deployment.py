"""The scheduled sweep as a user runs it (README, "Scheduled sweeps"): a real ``prefect server
start`` on loopback, the work pool, ``prefect deploy --all`` of the repository's prefect.yaml, a
real ``prefect worker start`` that runs each flow run in a subprocess, and two triggered runs of
the deployment, the second compared with the first (``run_diff``).

The deployment's parameters are overridden per run (``--param``) to point at a small config
and a temporary store: the repository's ``data/runs`` is never written. The server's scheduler
is off, so no 03:00 run can appear while the test runs; the cron schedule is read back instead.
Every process is started here in a session of its own and stopped by its process group."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

# A loaded 2-core machine: a server start with a fresh database and each flow run take minutes.
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(2400)]

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
DEPLOYMENT = "patflow-scheduled-sweep/nightly"
PROBLEMS, POLICIES = 2, ("standard", "pat")
TERMINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(prefect_home: Path, api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # A user's shell has no logging level set: flows/environment.py's WARNING (set in this test
    # process by conftest) would hide the flow run's INFO summary line the test looks for.
    env.pop("PREFECT_LOGGING_LEVEL", None)
    env.update({
        "PREFECT_HOME": str(prefect_home),  # this test's own database and profiles
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    })  # fmt: skip
    return env


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group this test started, SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def prefect(env: dict[str, str], *args: str, timeout_s: float = 300) -> str:
    result = subprocess.run(
        [PREFECT, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def api(api_url: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        api_url + path, data=data, method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for_health(api_url: str, server: subprocess.Popen, log: Path, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited:\n{log.read_text()}"
        try:
            if api(api_url, "/health") is True:
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(2)
    raise AssertionError(f"prefect server not healthy after {timeout_s}s:\n{log.read_text()}")


def trigger(env: dict[str, str], config: Path, store: Path) -> str:
    output = prefect(
        env, "deployment", "run", DEPLOYMENT, "--param", f"config={config}", "--param", f"store={store}"
    )
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def run_on_worker(env: dict[str, str], flow_run_id: str, api_url: str, log: Path, timeout_s: float = 1500) -> dict:
    """One ``prefect worker start --run-once``: it picks the triggered run up, runs it in a
    subprocess and exits when the run ends. Returns the flow run as the API has it."""
    worker = start([PREFECT, "worker", "start", "--pool", "patflow-process", "--run-once", "--limit", "1"], env, log)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            flow_run = api(api_url, f"/flow_runs/{flow_run_id}")
            if flow_run["state_type"] in TERMINAL_STATES and worker.poll() is not None:
                return flow_run
            if worker.poll() is not None and flow_run["state_type"] == "SCHEDULED":
                raise AssertionError(f"the worker exited without taking the run:\n{log.read_text()}")
            time.sleep(3)
        raise AssertionError(f"flow run {flow_run_id} not finished after {timeout_s}s:\n{log.read_text()}")
    finally:
        stop(worker)


def flow_run_logs(api_url: str, flow_run_id: str) -> list[str]:
    logs = api(api_url, "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
    return [entry["message"] for entry in logs]


def artifacts(api_url: str, flow_run_id: str, key: str) -> list[dict]:
    return api(api_url, "/artifacts/filter", {
        "artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": [key]}}
    })  # fmt: skip


def test_a_deployed_scheduled_sweep_runs_on_a_worker_and_diffs_with_the_previous_run(tmp_path):
    store = tmp_path / "runs"
    config = tmp_path / "deployment-test.yaml"
    config.write_text(textwrap.dedent(f"""\
        benchmarks: [{{name: humaneval, limit: {PROBLEMS}}}]
        configurations: [{{name: sim, generator: sim/small, planner: sim/large}}]
        policies: [{", ".join(POLICIES)}]
        cache_dir: {tmp_path / "cache"}
        concurrency: {{chunk_size: 2, workers: 1}}
    """))
    api_url = f"http://127.0.0.1:{free_port()}/api"
    env = environment(tmp_path / "prefect-home", api_url)
    host, port = re.match(r"http://([\d.]+):(\d+)/api", api_url).groups()
    server_log = tmp_path / "server.log"
    server = start([PREFECT, "server", "start", "--host", host, "--port", port], env, server_log)
    try:
        wait_for_health(api_url, server, server_log)
        prefect(env, "work-pool", "create", "patflow-process", "--type", "process")
        deploy_output = prefect(env, "--no-prompt", "deploy", "--all")
        deployment = api(api_url, f"/deployments/name/{DEPLOYMENT}")
        assert deployment["work_pool_name"] == "patflow-process", deploy_output
        assert deployment["parameters"] == {"config": "data/sweeps/nightly.yaml"}
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 3 * * *"]

        flow_run_ids = []
        for attempt in (1, 2):
            flow_run_id = trigger(env, config, store)
            worker_log = tmp_path / f"worker-{attempt}.log"
            flow_run = run_on_worker(env, flow_run_id, api_url, worker_log)
            assert flow_run["state_type"] == "COMPLETED", f"{flow_run['state']}\n{worker_log.read_text()}"
            flow_run_ids.append(flow_run_id)
        first_artifacts = artifacts(api_url, flow_run_ids[0], "run-diff-deployment-test")
        second_artifacts = artifacts(api_url, flow_run_ids[1], "run-diff-deployment-test")
        second_logs = flow_run_logs(api_url, flow_run_ids[1])
    finally:
        stop(server)

    # The store holds both runs, each with exactly one outcome per work item.
    manifests = sorted(
        (json.loads(path.read_text()) for path in (store / "manifests").glob("*.json")),
        key=lambda manifest: manifest["started_at"],
    )
    assert len(manifests) == 2
    first_run, second_run = (manifest["run_id"] for manifest in manifests)
    assert re.fullmatch(r"deployment-test-\d{8}T\d{6}Z(-\d+)?", first_run) and first_run != second_run
    assert manifests[0]["extra"]["schedule_sha256"] == manifests[1]["extra"]["schedule_sha256"]
    assert [manifest["extra"]["scheduled_by_flow_run"] for manifest in manifests] == flow_run_ids
    counts = duckdb.connect().execute(
        "SELECT run_id, count(*), count(DISTINCT (task_id, policy, seed))"
        f" FROM read_parquet('{store}/outcomes/**/*.parquet', hive_partitioning = true) GROUP BY run_id"
    ).fetchall()
    items = PROBLEMS * len(POLICIES)
    assert sorted(counts) == sorted([(first_run, items, items), (second_run, items, items)])

    # The first run had nothing to compare with; the second names the first, in its artifact
    # and in its log's one-line summary.
    (first_artifact,) = first_artifacts
    assert "Nothing to compare with" in first_artifact["data"]
    (second_artifact,) = second_artifacts
    assert f"# patflow run `{second_run}` against `{first_run}`" in second_artifact["data"]
    fixed, broken = duckdb.connect().execute(
        "WITH o AS (SELECT * FROM read_parquet($files, hive_partitioning = true))"
        " SELECT count(*) FILTER (WHERE NOT a.passed AND b.passed), count(*) FILTER (WHERE a.passed AND NOT b.passed)"
        " FROM o AS a JOIN o AS b USING (task_id, policy, seed) WHERE a.run_id = $first AND b.run_id = $second",
        {"files": f"{store}/outcomes/**/*.parquet", "first": first_run, "second": second_run},
    ).fetchone()
    summary = next(line for line in second_logs if line.startswith(f"run {second_run} vs {first_run}: "))
    assert re.fullmatch(
        rf"run {second_run} vs {first_run}: {fixed} fixed, {broken} broken;"
        r" pass@1 change pat [+-]\d\.\d{3}, standard [+-]\d\.\d{3}",
        summary,
    ), summary
    assert second_artifact["description"] == summary
