"""write_chunk, the committed-only views, resume keys and the manifest, on hand-built results."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from storage_builders import Call, Check, make_item

from tasks.records import BenchmarkSelection, ModelConfig, ModelConfiguration, PolicySpec, PolicyVariant, RunConfig
from tasks.storage import (
    SCHEMA_VERSION,
    SCHEMAS,
    ManifestMismatch,
    completed_work_item_specs,
    connect,
    read_manifest,
    remove_run,
    remove_uncommitted,
    write_chunk,
    write_manifest,
)


def completed(store, run_id):
    """The sweep's resume keys, with policy names for readable assertions."""
    return {(task, json.loads(spec)["name"], seed) for task, spec, seed in completed_work_item_specs(store, run_id)}


def raw_count(store, table):
    """Rows in the raw files, read the way a user's own tool would (no patflow view). The files
    carry ``run_id`` themselves, so the directory's hive partition is not needed."""
    return pq.read_table(store / table, partitioning=None).num_rows


def two_items(run_id="r1"):
    return [
        make_item(
            "t/0",
            "pat",
            0,
            run_id=run_id,
            calls=(Call("generator", 100, 20, 0.001), Call("planner", 300, 50, 0.01, 8.0, "plan")),
            checks=(Check("public", False, "assertion_error"), Check("hidden:base", True)),
            suites=(("base", True), ("plus", False)),
            planner_invoked=True,
        ),
        make_item("t/1", "standard", 1, run_id=run_id, calls=(Call("generator", 80, 10),)),
    ]


def test_write_chunk_layout_rows_and_provenance(store):
    files = write_chunk(store, two_items())
    for table, path in (("calls", files.calls), ("verifications", files.verifications),
                        ("outcomes", files.outcomes)):
        assert path == store / table / "run_id=r1" / f"{files.chunk_id}.parquet"
        assert pq.read_schema(path).equals(SCHEMAS[table], check_metadata=False)
    assert (files.work_items, files.call_rows, files.verification_rows) == (2, 3, 2)
    # No temporary files are left behind.
    assert sorted(p.name for p in (store / "calls" / "run_id=r1").iterdir()) == [files.calls.name]

    calls = pq.read_table(files.calls).to_pylist()
    planner_call = [row for row in calls if row["role"] == "planner"][0]
    assert planner_call["schema_version"] == SCHEMA_VERSION
    assert planner_call["chunk_id"] == files.chunk_id
    assert planner_call["run_id"] == "r1"
    assert planner_call["dataset_name"] == "toy" and planner_call["dataset_sha256"] == "ab" * 32
    assert json.loads(planner_call["policy_spec"]) == {"name": "pat", "params": {}}
    assert (planner_call["model"], planner_call["cost_weight"], planner_call["phase"]) == (
        "sim/large", 8.0, "plan")
    outcomes = pq.read_table(files.outcomes).to_pylist()
    assert dict(outcomes[0]["suites_passed"]) == {"base": True, "plus": False}
    assert outcomes[0]["passed"] is False and outcomes[1]["passed"] is True


def test_chunk_id_is_derived_from_its_work_items(store):
    first = write_chunk(store, two_items())
    again = write_chunk(store, list(reversed(two_items())))  # same items, other finishing order
    other = write_chunk(store, [make_item("t/2", "pat", 0)])
    assert first.chunk_id == again.chunk_id != other.chunk_id
    assert first.outcomes.exists() and other.outcomes.exists()
    # A re-run replaced its own files: the raw files hold each item once.
    assert len(list((store / "outcomes").rglob("*.parquet"))) == 2
    assert (raw_count(store, "outcomes"), raw_count(store, "calls")) == (3, 3)
    # The key includes the run and the models: the same task elsewhere is another chunk.
    assert write_chunk(store, two_items("r2")).chunk_id != first.chunk_id


def test_bad_chunks_are_refused(store):
    with pytest.raises(ValueError, match="no work items"):
        write_chunk(store, [])
    with pytest.raises(ValueError, match="one run"):
        write_chunk(store, [make_item("a", "pat", run_id="r1"), make_item("b", "pat", run_id="r2")])
    with pytest.raises(ValueError, match="run id"):
        write_chunk(store, [make_item("a", "pat", run_id="../evil")])
    with pytest.raises(ValueError, match="twice"):
        write_chunk(store, [make_item("a", "pat"), make_item("a", "pat")])


def test_views_on_missing_store_are_empty_with_schema_columns(store):
    con = connect(store)
    for table, schema in SCHEMAS.items():
        relation = con.sql(f"SELECT * FROM {table}")
        assert relation.columns == schema.names
        assert relation.fetchall() == []
    assert completed(store, "r1") == set()


def test_views_see_committed_chunks_and_sql_reads_map_suites(store):
    write_chunk(store, two_items())
    con = connect(store)
    assert con.execute("SELECT count(*) FROM calls").fetchall() == [(3,)]
    assert con.execute("SELECT count(*) FROM verifications").fetchall() == [(2,)]
    rows = con.sql(
        "SELECT task_id, suites_passed['base'], suites_passed['plus'] FROM outcomes ORDER BY 1"
    ).fetchall()
    assert rows == [("t/0", True, False), ("t/1", True, None)]


def test_uncommitted_chunk_is_invisible_then_removed_and_resumed(store):
    committed = write_chunk(store, two_items())
    crashed = write_chunk(store, [make_item("t/2", "pat", 0, calls=(Call("generator", 5, 5),),
                                            checks=(Check("public", True),))])
    crashed.outcomes.unlink()  # the crash happened before the commit
    # A stray temp file from a crash inside the writer is ignored too.
    (committed.calls.parent / "deadbeef.parquet.123.tmp").write_bytes(b"partial")
    con = connect(store)
    assert con.execute("SELECT count(*) FROM calls").fetchall() == [(3,)]
    assert con.execute("SELECT count(*) FROM verifications").fetchall() == [(2,)]
    assert completed(store, "r1") == {("t/0", "pat", 0), ("t/1", "standard", 1)}
    # Before the resume plans its work, the leftovers go: the raw files then agree with the views.
    assert remove_uncommitted(store, "r1") == 3  # calls, verifications, the temp file
    assert (raw_count(store, "calls"), raw_count(store, "verifications")) == (3, 2)
    assert committed.calls.exists() and committed.verifications.exists()
    assert remove_uncommitted(store, "nope") == 0
    # The resume re-runs the item, chunked with another: it counts exactly once.
    write_chunk(store, [make_item("t/2", "pat", 0, calls=(Call("generator", 5, 5),)),
                        make_item("t/3", "pat", 0)])
    assert connect(store).execute("SELECT count(*) FROM calls").fetchall() == [(4,)]
    assert raw_count(store, "calls") == 4


def test_work_item_committed_in_two_different_chunks_is_counted_once_by_the_views(store):
    item = make_item("t/0", "pat", 0, calls=(Call("generator", 10, 1), Call("planner", 20, 2)))
    write_chunk(store, [item])
    write_chunk(store, [item, make_item("t/1", "pat", 0)])  # a chunk planned before the first commit
    con = connect(store)
    assert con.execute("SELECT count(*) FROM outcomes").fetchall() == [(2,)]
    assert con.execute("SELECT count(*), sum(input_tokens) FROM calls WHERE task_id = 't/0'").fetchall() == [(2, 30)]


def test_views_restricted_to_run_ids_and_completed_per_run(store):
    write_chunk(store, two_items("r1"))
    write_chunk(store, [make_item("t/9", "pat", 3, run_id="r2")])
    assert connect(store, ["r2"]).execute("SELECT run_id, task_id FROM outcomes").fetchall() == [
        ("r2", "t/9")]
    assert completed(store, "r2") == {("t/9", "pat", 3)}
    assert completed(store, "nope") == set()


def test_numeric_looking_run_id_stays_a_string(store):
    write_chunk(store, [make_item("t/0", "pat", 0, run_id="2024")])
    assert connect(store).execute("SELECT run_id FROM outcomes").fetchall() == [("2024",)]


def test_old_schema_file_reads_new_columns_as_null(store):
    write_chunk(store, two_items())
    # A file written by an older schema version that lacked the 'attempts' column.
    old_schema = pa.schema([f for f in SCHEMAS["calls"] if f.name != "attempts"])
    old = write_chunk(store, [make_item("t/5", "standard", 0, calls=(Call("generator", 7, 7),))])
    table = pq.read_table(old.calls).select(old_schema.names)
    pq.write_table(table, old.calls)
    con = connect(store)
    assert con.sql("SELECT attempts FROM calls WHERE task_id = 't/5'").fetchall() == [(None,)]
    assert con.execute("SELECT count(*) FROM calls").fetchall() == [(4,)]


def run_config(run_id="r1", seeds=1):
    return RunConfig(
        run_id=run_id,
        benchmarks=(BenchmarkSelection("humaneval"),),
        policies=(
            PolicyVariant(PolicySpec("standard"), ("main",)),
            PolicyVariant(PolicySpec("pat", (("max_replans", 2),)), ("main",)),
        ),
        configurations=(ModelConfiguration("main", ModelConfig("sim/small"), ModelConfig("sim/large")),),
        seeds=seeds,
    )


def test_manifest_roundtrip_resume_and_mismatch(store):
    config = run_config()
    path = write_manifest(store, config, {"dataset": {"name": "humaneval", "version": "1"}})
    assert path == store / "manifests" / "r1.json"
    manifest = read_manifest(store, "r1")
    assert manifest["config_sha256"] == config.config_sha256()
    assert manifest["config"]["configurations"][0]["generator"]["model"] == "sim/small"
    assert manifest["dataset"] == {"name": "humaneval", "version": "1"}
    assert manifest["started_at"] and manifest["patflow_version"]
    write_manifest(store, config, {})  # same config: a resume
    assert len(read_manifest(store, "r1")["resumed_at"]) == 1
    with pytest.raises(ManifestMismatch) as raised:
        write_manifest(store, run_config(seeds=5), {})
    assert "\n" not in str(raised.value) and "--overwrite" in str(raised.value)
    assert read_manifest(store, "other") is None


def test_corrupt_manifest_is_a_one_line_error(store):
    (store / "manifests").mkdir(parents=True)
    (store / "manifests" / "r1.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"r1\.json: line 1"):
        read_manifest(store, "r1")


def test_remove_run_deletes_only_that_run(store):
    write_manifest(store, run_config("r1"), {})
    write_chunk(store, two_items("r1"))
    write_chunk(store, two_items("r2"))
    remove_run(store, "r1")
    assert read_manifest(store, "r1") is None
    assert completed(store, "r1") == set()
    assert len(completed(store, "r2")) == 2
    write_manifest(store, run_config("r1", seeds=5), {})  # allowed after removal


def test_compaction_keeps_exactly_once_in_the_views_and_the_raw_files(store):
    from tasks.storage.compact import compact_run

    write_chunk(store, two_items())
    item = make_item("t/5", "pat", 0, calls=(Call("generator", 10, 1), Call("planner", 20, 2)),
                     checks=(Check("public", False),))
    write_chunk(store, [item])
    write_chunk(store, [item, make_item("t/6", "standard", 0)])  # t/5 committed twice
    crashed = write_chunk(store, [make_item("t/7", "pat", 0, calls=(Call("generator", 1, 1),))])
    crashed.outcomes.unlink()  # an uncommitted leftover is not carried into the compacted file
    write_chunk(store, two_items("r2"))
    before = connect(store, ["r1"])
    expected = {table: sorted(before.sql(f"SELECT * EXCLUDE (chunk_id) FROM {table}").fetchall(), key=repr)
                for table in ("calls", "verifications", "outcomes")}
    before.close()

    result = compact_run(store, "r1")
    assert (result.files_before, result.files_after, result.work_items) == (11, 3, 4)  # 4 chunks, one without its outcomes file
    after = connect(store, ["r1"])
    for table, rows in expected.items():
        assert sorted(after.sql(f"SELECT * EXCLUDE (chunk_id) FROM {table}").fetchall(), key=repr) == rows
    assert (raw_count(store / "outcomes", "run_id=r1"), raw_count(store / "calls", "run_id=r1")) == (4, 5)
    assert completed(store, "r2") == {("t/0", "pat", 0), ("t/1", "standard", 1)}  # other runs untouched
    again = compact_run(store, "r1")
    assert (again.files_before, again.files_after) == (3, 3)
    assert raw_count(store / "outcomes", "run_id=r1") == 4
