"""The run store on object storage (``s3://bucket/prefix``) against a real S3-compatible server
(moto's, in its own process on 127.0.0.1): the same exactly-once rules as a local directory.

Raw checks list and read the bucket's objects directly (pyarrow over S3), never patflow's views:
that is what any other reader of the bucket sees. Skips, with the reason, without moto.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from s3_server import (
    REGION, TEST_CREDENTIALS, create_bucket, environ_with, free_port, moto_server, object_keys, require_moto, s3_environment,
)  # fmt: skip
from storage_builders import Call, Check, make_item
from typer.testing import CliRunner

require_moto()

from flows.cli import app  # noqa: E402
from tasks.storage import (  # noqa: E402
    ManifestMismatch,
    completed_work_item_specs,
    connect,
    object_store_problem,
    read_manifest,
    remove_run,
    remove_uncommitted,
    run_query,
    write_chunk,
    write_manifest,
)
from tasks.storage.compact import compact_run  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]
BUCKET = "patflow-runs"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        create_bucket(url, BUCKET)
        with pytest.MonkeyPatch.context() as patch:
            for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
                patch.delenv(name, raising=False)
            for name, value in s3_environment(url).items():
                patch.setenv(name, value)
            yield url


@pytest.fixture
def s3_store(endpoint, request) -> str:
    """A fresh prefix of the bucket per test."""
    return f"s3://{BUCKET}/{request.node.name}"


def raw(endpoint: str):
    return pafs.S3FileSystem(
        access_key=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=endpoint, region=REGION,
    )  # fmt: skip


def keys(endpoint: str, store: str, table: str) -> list[str]:
    prefix = store.removeprefix(f"s3://{BUCKET}/")
    return object_keys(endpoint, BUCKET, f"{prefix}/{table}")


def raw_rows(endpoint: str, store: str, table: str) -> list[dict]:
    filesystem = raw(endpoint)
    rows = []
    for key in keys(endpoint, store, table):
        rows += pq.read_table(key, filesystem=filesystem).to_pylist()
    return rows


def two_items(run_id="r1"):
    return [
        make_item("t/0", "pat", 0, run_id=run_id, calls=(Call("generator", 10, 5), Call("planner", 20, 8)),
                  checks=(Check("public", True), Check("hidden:base", True))),
        make_item("t/1", "standard", 1, run_id=run_id, calls=(Call("generator", 4, 2),),
                  checks=(Check("hidden:base", False),)),
    ]  # fmt: skip


def test_a_chunk_is_three_objects_and_a_rewrite_replaces_them(endpoint, s3_store):
    files = write_chunk(s3_store, two_items())
    assert str(files.outcomes) == f"{s3_store}/outcomes/run_id=r1/{files.chunk_id}.parquet"
    for table in ("calls", "verifications", "outcomes"):
        assert keys(endpoint, s3_store, table) == [f"{BUCKET}/{s3_store.split('/', 3)[3]}/{table}/run_id=r1/{files.chunk_id}.parquet"]
    assert len(raw_rows(endpoint, s3_store, "calls")) == 3

    again = write_chunk(s3_store, list(reversed(two_items())))  # a retried chunk: same items
    assert again.chunk_id == files.chunk_id
    assert [len(keys(endpoint, s3_store, table)) for table in ("calls", "verifications", "outcomes")] == [1, 1, 1]
    outcomes = raw_rows(endpoint, s3_store, "outcomes")
    assert sorted((row["task_id"], row["seed"]) for row in outcomes) == [("t/0", 0), ("t/1", 1)]
    assert len(raw_rows(endpoint, s3_store, "calls")) == 3  # replaced, not appended
    assert completed_work_item_specs(s3_store, "r1") == {(row["task_id"], row["policy_spec"], row["seed"]) for row in outcomes}


def test_views_and_named_queries_match_a_local_store_of_the_same_chunks(endpoint, s3_store, tmp_path):
    local = tmp_path / "store"
    chunks = [two_items(), [make_item("t/2", "pat", 0, calls=(Call("generator", 3, 3, cost_usd=0.5),))], two_items("r2")]
    for chunk in chunks:
        write_chunk(local, chunk)
        write_chunk(s3_store, chunk)
    s3_con, local_con = connect(s3_store), connect(local)
    for table in ("calls", "verifications", "outcomes"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert s3_con.sql(sql).fetchall() == local_con.sql(sql).fetchall()
        assert s3_con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0] > 0
    assert run_query(s3_con, "policy_comparison").to_pylist() == run_query(local_con, "policy_comparison").to_pylist()
    only_r2 = connect(s3_store, ["r2"])
    assert only_r2.sql("SELECT DISTINCT run_id FROM outcomes").fetchall() == [("r2",)]
    empty = connect(f"s3://{BUCKET}/nothing-here")
    assert empty.sql("SELECT count(*) FROM calls").fetchall() == [(0,)]
    assert [c[0] for c in empty.sql("SELECT * FROM outcomes").description] == [c[0] for c in local_con.sql("SELECT * FROM outcomes").description]


def test_a_process_killed_before_its_commit_leaves_nothing_visible_and_resume_cleans_up(endpoint, s3_store):
    # The child uploads calls and verifications, then dies (os._exit) before the outcomes upload.
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = [{str(TESTS_DIR)!r}, {str(REPO_ROOT)!r}]
        from storage_builders import Call, Check, make_item
        import tasks.storage.writer as writer
        real_put = writer.put_table
        def dying_put(location, table, path):
            if "/outcomes/" in path:
                os._exit(9)
            return real_put(location, table, path)
        writer.put_table = dying_put
        writer.write_chunk({s3_store!r}, [make_item("t/1", "pat", 0, calls=(Call("planner", 10, 10, 1.0),),
                                                    checks=(Check("public", False),))])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environ_with(endpoint))
    assert result.returncode == 9, result.stderr
    assert len(keys(endpoint, s3_store, "calls")) == 1 and keys(endpoint, s3_store, "outcomes") == []
    con = connect(s3_store)
    assert con.execute("SELECT count(*) FROM calls").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM verifications").fetchall() == [(0,)]
    assert completed_work_item_specs(s3_store, "r1") == set()
    committed = write_chunk(s3_store, two_items())  # another chunk, committed: kept
    assert remove_uncommitted(s3_store, "r1") == 2
    assert keys(endpoint, s3_store, "calls") == [str(committed.calls).removeprefix("s3://")]
    assert remove_uncommitted(s3_store, "r1") == 0


def test_manifest_round_trip_resume_mismatch_and_remove_run(endpoint, s3_store):
    from test_storage_writer import run_config

    config = run_config()
    path = write_manifest(s3_store, config, {"dataset": {"name": "humaneval", "version": "1"}})
    assert path == f"{s3_store}/manifests/r1.json"
    manifest = read_manifest(s3_store, "r1")
    assert manifest["config_sha256"] == config.config_sha256()
    assert manifest["dataset"] == {"name": "humaneval", "version": "1"}
    assert "patflow-test" not in str(manifest)  # credentials stay in the environment
    write_manifest(s3_store, config, {})
    assert len(read_manifest(s3_store, "r1")["resumed_at"]) == 1
    with pytest.raises(ManifestMismatch, match="--overwrite"):
        write_manifest(s3_store, run_config(seeds=5), {})
    assert read_manifest(s3_store, "other") is None

    write_chunk(s3_store, two_items("r1"))
    write_chunk(s3_store, two_items("r2"))
    remove_run(s3_store, "r1")
    assert read_manifest(s3_store, "r1") is None
    assert completed_work_item_specs(s3_store, "r1") == set()
    assert len(completed_work_item_specs(s3_store, "r2")) == 2
    assert [key for key in object_keys(endpoint, BUCKET, s3_store.split("/", 3)[3]) if "run_id=r1" in key] == []


def test_compaction_on_object_storage_keeps_exactly_once(endpoint, s3_store):
    item = make_item("t/5", "pat", 0, calls=(Call("generator", 10, 1), Call("planner", 20, 2)), checks=(Check("public", False),))
    write_chunk(s3_store, two_items())
    write_chunk(s3_store, [item])
    write_chunk(s3_store, [item, make_item("t/6", "standard", 0)])  # t/5 committed twice
    before = connect(s3_store, ["r1"])
    expected = {table: sorted(before.sql(f"SELECT * EXCLUDE (chunk_id) FROM {table}").fetchall(), key=repr)
                for table in ("calls", "verifications", "outcomes")}  # fmt: skip
    assert len(raw_rows(endpoint, s3_store, "outcomes")) == 5  # the retried item, twice in the raw objects

    result = compact_run(s3_store, "r1")
    assert (result.files_before, result.files_after, result.work_items) == (9, 3, 4)
    after = connect(s3_store, ["r1"])
    for table, rows in expected.items():
        assert sorted(after.sql(f"SELECT * EXCLUDE (chunk_id) FROM {table}").fetchall(), key=repr) == rows
    outcomes = raw_rows(endpoint, s3_store, "outcomes")
    assert sorted(row["task_id"] for row in outcomes) == ["t/0", "t/1", "t/5", "t/6"]  # one row per work item
    again = compact_run(s3_store, "r1")
    assert (again.files_before, again.files_after, again.work_items) == (3, 3, 4)


def test_runs_report_and_compact_commands_read_a_run_written_by_the_production_path(endpoint, s3_store, tmp_path):
    # What each Dask worker does (plan_chunks + run_chunk), without Prefect: real sim models, real
    # sandbox, chunks committed to the bucket; the sweep's own store check passes first.
    import json

    from flows.sweep import claim_run
    from tasks.sweep import plan_chunks, run_chunk
    from tasks.sweep_config import check_reachable, load_sweep_config

    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        run_id: bucketed
        store: {s3_store}
        cache_dir: {tmp_path / "cache"}
        benchmarks: [{{name: stdio-demo, limit: 3}}]
        configurations: [{{name: s, generator: sim/small, planner: sim/large}}]
        policies: [standard]
        concurrency: {{chunk_size: 2}}
    """))
    config = load_sweep_config(path)
    assert config.store == s3_store  # a URL is not resolved as a path
    check_reachable(config)
    claim_run(config)
    chunks, total = plan_chunks(config)
    assert sum(run_chunk(chunk).items for chunk in chunks) == total == 3
    assert plan_chunks(config)[0] == []  # resume: every item is committed

    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "--store", s3_store, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert (row["run_id"], row["items_done"], row["items_total"], row["status"]) == ("bucketed", 3, 3, "complete")
    assert row["config_sha256"] == config.config_sha256()[:12]
    report = runner.invoke(app, ["report", "--store", s3_store, "--run-id", "bucketed", "--format", "json"])
    assert report.exit_code == 0, report.output
    (comparison,) = json.loads(report.output)
    assert comparison["policy"] == "standard" and comparison["problems"] == 3
    compacted = runner.invoke(app, ["compact", "--store", s3_store])
    assert compacted.exit_code == 0 and "bucketed: 6 files -> 3 (3 work items)" in compacted.output, compacted.output
    assert len(raw_rows(endpoint, s3_store, "outcomes")) == 3


def test_a_store_that_cannot_be_used_is_one_clear_line_before_any_work(endpoint, monkeypatch):
    assert object_store_problem(f"s3://{BUCKET}/anything") is None
    assert "bucket 'no-such-bucket' does not exist" in object_store_problem("s3://no-such-bucket/x")
    assert "expected s3://bucket" in object_store_problem("s3://")
    closed = f"http://127.0.0.1:{free_port()}"
    problem = object_store_problem(f"s3://{BUCKET}/x", {**s3_environment(closed)})
    assert problem.startswith(f"cannot reach bucket '{BUCKET}' at {closed}") and "\n" not in problem
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    assert "no AWS credentials" in object_store_problem(f"s3://{BUCKET}/x")
    result = CliRunner().invoke(app, ["report", "--store", f"s3://{BUCKET}/x"])
    assert result.exit_code == 2 and "no AWS credentials" in result.output


def test_a_sweep_with_an_unusable_s3_store_stops_before_anything_starts(endpoint):
    result = CliRunner().invoke(app, [
        "run", "--benchmark", "humaneval", "--limit", "2", "--policy", "standard",
        "--store", "s3://no-such-bucket/runs",
    ])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "store s3://no-such-bucket/runs cannot be used (bucket 'no-such-bucket' does not exist" in result.output.replace("\n", " ")


def test_a_dask_worker_checks_the_bucket_with_its_own_aws_variables(endpoint, s3_store, monkeypatch):
    from flows.cluster import _worker_can_run

    assert _worker_can_run("humaneval", None, None, s3_store) is None
    missing = _worker_can_run("humaneval", None, None, "s3://no-such-bucket/runs")
    assert missing == ("store s3://no-such-bucket/runs cannot be used from this worker:"
                       f" bucket 'no-such-bucket' does not exist at {endpoint}")  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    assert "cannot reach bucket" in _worker_can_run("humaneval", None, None, s3_store)


def test_a_scheduled_sweep_finds_its_previous_run_on_object_storage(endpoint, s3_store, tmp_path):
    import dataclasses

    from test_scheduled_runs import claim, commit, sweep_config

    from tasks.scheduled import previous_complete_run, read_scheduled_runs

    config = dataclasses.replace(sweep_config(tmp_path), store=s3_store)
    claim(config, "nightly-a", items_total=4)
    commit(s3_store, "nightly-a", {"standard": [True, False], "pat": [True, True]})
    claim(config, "nightly-b", items_total=4)
    assert [run.run_id for run in read_scheduled_runs(s3_store)] == ["nightly-a", "nightly-b"]
    assert previous_complete_run(s3_store, "nightly-b") == "nightly-a"
