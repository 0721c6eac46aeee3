"""A real sweep into an object-storage store: ``patflow run --store s3://bucket/prefix`` (Prefect,
Dask workers, sim models, the sandbox, all real processes) against moto's S3 server in its own
process on 127.0.0.1, then ``patflow runs`` and ``patflow report`` on the same URL, a raw read of
the bucket's outcomes objects (pyarrow over S3, not patflow's views), and a resume that re-runs
nothing. Minutes on a loaded 2-core machine, hence ``slow``."""

from __future__ import annotations

import json
import subprocess
import sys
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


def patflow(args: list[str], env: dict[str, str], log: Path) -> str:
    result = subprocess.run([PATFLOW, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_patflow_run_runs_and_report_on_an_s3_store(tmp_path):
    with moto_server(tmp_path / "moto.log") as endpoint:
        create_bucket(endpoint, BUCKET)
        env = environ_with(endpoint)
        env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # never another process's database
        env.pop("PREFECT_API_URL", None)
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"  # a loaded machine
        env["PATFLOW_NO_TIMEOUT_RECHECK"] = "1"
        store = f"s3://{BUCKET}/team/runs"
        sweep = [
            "run", "--benchmark", "humaneval", "--limit", str(ITEMS), "--policy", "standard", "--seeds", "1",
            "--chunk-size", "2", "--workers", "1", "--store", store, "--run-id", "on-s3",
            "--cache-dir", str(tmp_path / "cache"), "--format", "csv",
        ]  # fmt: skip
        first = patflow(sweep, env, tmp_path / "run.log")
        assert f"{ITEMS} work items run (0 already stored)" in first
        assert "store: 9 chunk files compacted to 3" in first  # 3 chunks x 3 tables, then one file per table

        # The bucket holds the store's layout and nothing on local disk does.
        keys = object_keys(endpoint, BUCKET, "team/runs")
        assert f"{BUCKET}/team/runs/manifests/on-s3.json" in keys
        outcome_keys = [key for key in keys if key.startswith(f"{BUCKET}/team/runs/outcomes/run_id=on-s3/")]
        assert len(outcome_keys) == 1
        assert not (REPO_ROOT / "s3:").exists()

        # A raw read of the outcomes objects: exactly one row per work item, and per item as many
        # call rows as its outcome says it made.
        filesystem = pafs.S3FileSystem(
            access_key=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            endpoint_override=endpoint, region=REGION,
        )  # fmt: skip
        outcomes = [row for key in outcome_keys for row in pq.read_table(key, filesystem=filesystem).to_pylist()]
        item_keys = [(row["task_id"], row["policy_spec"], row["seed"]) for row in outcomes]
        assert len(item_keys) == len(set(item_keys)) == ITEMS
        calls = [
            row for key in keys if key.startswith(f"{BUCKET}/team/runs/calls/")
            for row in pq.read_table(key, filesystem=filesystem).to_pylist()
        ]  # fmt: skip
        for outcome in outcomes:
            made = [c for c in calls if (c["task_id"], c["policy_spec"], c["seed"]) == (outcome["task_id"], outcome["policy_spec"], outcome["seed"])]
            assert len(made) == outcome["model_calls"] > 0

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
