"""A real sweep into an object-storage store: ``patflow run --store s3://bucket/prefix`` (Prefect,
Dask workers, sim models, the sandbox, all real processes) against moto's S3 server in its own
process on 127.0.0.1, then ``patflow runs`` and ``patflow report`` on the same URL, a raw read of
the bucket's outcomes objects (pyarrow over S3, not patflow's views), and a resume that re-runs
nothing; and a sweep SIGKILLed mid-run and resumed on the same URL. Minutes on a loaded 2-core
machine, hence ``slow``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from s3_server import REGION, TEST_CREDENTIALS, create_bucket, environ_with, moto_server, object_keys, require_moto

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
require_moto()

REPO_ROOT = Path(__file__).resolve().parents[2]
PATFLOW = str(Path(sys.executable).parent / "patflow")
BUCKET = "patflow-sweeps"
ITEMS = 6


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        create_bucket(url, BUCKET)
        yield url


@pytest.fixture
def env(endpoint, tmp_path) -> dict[str, str]:
    env = environ_with(endpoint)
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # never another process's database
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"  # a loaded machine
    env["PATFLOW_NO_TIMEOUT_RECHECK"] = "1"
    return env


def raw_filesystem(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=endpoint, region=REGION,
    )  # fmt: skip


def raw_rows(endpoint: str, keys: list[str]) -> list[dict]:
    filesystem = raw_filesystem(endpoint)
    return [row for key in keys for row in pq.read_table(key, filesystem=filesystem).to_pylist()]


def assert_one_copy_per_item(endpoint: str, prefix: str, items: int) -> list[dict]:
    """Raw objects: one outcome row per work item, and per item as many call rows as its
    outcome says it made. Returns the outcome rows."""
    keys = object_keys(endpoint, BUCKET, prefix)
    outcomes = raw_rows(endpoint, [key for key in keys if "/outcomes/" in key])
    item_keys = [(row["task_id"], row["policy_spec"], row["seed"]) for row in outcomes]
    assert len(item_keys) == len(set(item_keys)) == items
    calls = raw_rows(endpoint, [key for key in keys if "/calls/" in key])
    per_item: dict[tuple, int] = {}
    for call in calls:
        item = (call["task_id"], call["policy_spec"], call["seed"])
        per_item[item] = per_item.get(item, 0) + 1
    assert {key: per_item.get(key, 0) for key in item_keys} == {
        (row["task_id"], row["policy_spec"], row["seed"]): row["model_calls"] for row in outcomes
    }
    assert set(per_item) <= set(item_keys)  # no calls of an uncommitted item left behind
    return outcomes


def patflow(args: list[str], env: dict[str, str], log: Path) -> str:
    result = subprocess.run([PATFLOW, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_patflow_run_runs_and_report_on_an_s3_store(endpoint, env, tmp_path):
    store = f"s3://{BUCKET}/team/runs"
    sweep = [
        "run", "--benchmark", "humaneval", "--limit", str(ITEMS), "--policy", "standard", "--seeds", "1",
        "--chunk-size", "2", "--workers", "1", "--store", store, "--run-id", "on-s3",
        "--cache-dir", str(tmp_path / "cache"), "--format", "csv",
    ]  # fmt: skip
    first = patflow(sweep, env, tmp_path / "run.log")
    assert f"{ITEMS} work items run (0 already stored)" in first
    assert "store: 9 chunk files compacted to 3" in first  # 3 chunks x 3 tables, then one file per table

    # The bucket holds the store's layout, and nothing landed on local disk under a mangled name.
    keys = object_keys(endpoint, BUCKET, "team/runs")
    assert f"{BUCKET}/team/runs/manifests/on-s3.json" in keys
    outcome_keys = [key for key in keys if key.startswith(f"{BUCKET}/team/runs/outcomes/run_id=on-s3/")]
    assert len(outcome_keys) == 1
    assert not (REPO_ROOT / "s3:").exists()
    outcomes = assert_one_copy_per_item(endpoint, "team/runs", ITEMS)

    runs = json.loads(patflow(["runs", "--store", store, "--format", "json"], env, tmp_path / "runs.log"))
    assert [(r["run_id"], r["items_done"], r["items_total"], r["status"]) for r in runs] == [("on-s3", ITEMS, ITEMS, "complete")]
    report = json.loads(patflow(
        ["report", "--store", store, "--run-id", "on-s3", "--query", "policy_comparison", "--format", "json"],
        env, tmp_path / "report.log",
    ))  # fmt: skip
    assert [(r["policy"], r["problems"], r["work_items"]) for r in report] == [("standard", ITEMS, ITEMS)]
    assert report[0]["pass_at_1"] == sum(row["passed"] for row in outcomes) / ITEMS

    again = patflow(sweep, env, tmp_path / "resume.log")
    assert f"0 work items run ({ITEMS} already stored)" in again
    assert object_keys(endpoint, BUCKET, "team/runs/outcomes") == outcome_keys


def test_a_sigkilled_sweep_on_s3_resumes_to_one_copy_of_every_item(endpoint, env, tmp_path):
    store, items = f"s3://{BUCKET}/killed/runs", 20  # 10 problems x (standard, pat): 10 chunks of 2
    sweep = [
        "run", "--benchmark", "humaneval", "--limit", "10", "--policy", "standard", "--policy", "pat",
        "--seeds", "1", "--chunk-size", "2", "--store", store, "--run-id", "killed",
        "--cache-dir", str(tmp_path / "cache"), "--format", "csv",
    ]  # fmt: skip
    log = tmp_path / "killed.log"
    # A session of its own: SIGKILL to the group takes the CLI, its Prefect server and its Dask
    # workers at once, mid-upload or not, as a power cut would.
    process = subprocess.Popen([PATFLOW, *sweep, "--workers", "2"], cwd=REPO_ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 1200
        while len(object_keys(endpoint, BUCKET, "killed/runs/outcomes")) < 2:
            assert process.poll() is None, f"the sweep ended before it could be killed:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
    committed_at_kill = len(object_keys(endpoint, BUCKET, "killed/runs/outcomes"))
    assert committed_at_kill < 10, "the sweep finished before the kill: nothing was tested"
    stored = len(raw_rows(endpoint, object_keys(endpoint, BUCKET, "killed/runs/outcomes")))

    output = patflow([*sweep, "--workers", "1"], env, tmp_path / "resume.log")
    assert f"{items - stored} work items run ({stored} already stored)" in output
    assert_one_copy_per_item(endpoint, "killed/runs", items)
