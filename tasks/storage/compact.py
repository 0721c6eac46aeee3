"""Compaction: a finished run's many chunk files become one file per table, exactly-once kept.

A sweep of 20,000 items in chunks of 16 leaves ~1,250 files per table; every query then opens
every footer. ``compact_run`` rewrites a run's committed rows — deduplicated by the views' rule
(one outcome per work item, and only that copy's calls and verifications) — into one file per
table named ``compact-<hash>.parquet`` (the same stem in all three tables, so the commit rule
"a chunk is committed when its outcomes file exists" still holds), then deletes the inputs.

Guarantees:
- Rows keep their original ``chunk_id``; the views read a compacted run exactly as before, and
  the raw files hold one outcome row per work item once the inputs are gone.
- Each output is written atomically (temp name, fsync, rename; on object storage one whole-object
  upload), outcomes last; the old outcomes
  files are deleted before the old calls and verifications files. A crash in between leaves
  rows twice in the raw files but never in the views; compacting again (or the next resume's
  ``remove_uncommitted``) finishes the job. Idempotent: a compacted run compacts to itself.
- Run it only on a run no chunk is writing to (at the end of a sweep, or ``patflow compact``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tasks.storage.location import StoreLocation, parse_store
from tasks.storage.schemas import SCHEMAS, TABLE_NAMES
from tasks.storage.writer import check_run_id, partition_path, write_store_table

COMPACT_PREFIX = "compact-"


@dataclass(frozen=True)
class CompactionResult:
    run_id: str
    files_before: int
    files_after: int
    work_items: int


def _files(location: StoreLocation, table: str, run_id: str) -> list[str]:
    """Paths of the run's Parquet files of ``table``, sorted by name."""
    directory = partition_path(location, table, run_id)
    return [f"{directory}/{name}" for name in location.file_names(directory, ".parquet")]


def run_ids_in_store(store: str | Path | StoreLocation) -> list[str]:
    """Every run id with an outcomes partition in the store, sorted."""
    location = parse_store(store)
    return [name.removeprefix("run_id=") for name in location.subdirectory_names(location.join("outcomes"), "run_id=")]


def compact_run(store: str | Path | StoreLocation, run_id: str) -> CompactionResult:
    from tasks.storage.views import _arrow, connect

    check_run_id(run_id)
    location = parse_store(store)
    inputs = {table: _files(location, table, run_id) for table in TABLE_NAMES}
    files_before = sum(len(files) for files in inputs.values())
    outcome_files = inputs["outcomes"]
    if len(outcome_files) <= 1 and files_before <= len(TABLE_NAMES):
        work_items = 0
        if outcome_files:
            import pyarrow.parquet as pq

            work_items = pq.read_metadata(outcome_files[0], filesystem=None if location.is_local else location.filesystem).num_rows
        return CompactionResult(run_id, files_before, files_before, work_items)
    names = [path.rsplit("/", 1)[-1] for path in outcome_files]
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:24]
    stem = f"{COMPACT_PREFIX}{digest}"
    con = connect(location, [run_id])
    try:
        tables = {}
        for table in TABLE_NAMES:
            order = {"calls": "call_index", "verifications": "verification_index"}.get(table)
            sql = f"SELECT * FROM {table}" + (
                f" ORDER BY task_id, policy_spec, seed, {order}" if order else " ORDER BY task_id, policy_spec, seed"
            )
            tables[table] = _arrow(con.sql(sql)).cast(SCHEMAS[table])
    finally:
        con.close()
    written = {}
    for table in ("calls", "verifications", "outcomes"):  # outcomes last: the commit
        written[table] = str(write_store_table(location, tables[table], table, run_id, stem))
    for table in ("outcomes", "calls", "verifications"):  # old commits first
        for path in inputs[table]:
            if path != written[table]:
                location.delete_file(path)
    files_after = sum(len(_files(location, table, run_id)) for table in TABLE_NAMES)
    return CompactionResult(run_id, files_before, files_after, tables["outcomes"].num_rows)
