"""The chunk writer: ``WorkItemResult``s in, three Parquet files out, each written atomically.

Guarantees:
- One call writes one chunk: per table, one file ``STORE/<table>/run_id=<run_id>/<chunk_id>.parquet``.
  In a local store a file is written under a temporary name in the same directory, flushed,
  fsynced and renamed; on object storage (``s3://bucket/prefix``, ``tasks.storage.location``) it
  is one upload of the whole object, which S3 makes visible whole or not at all. Either way a
  reader never sees a partial file.
- The ``chunk_id`` is derived from the chunk's work items (a hash of their sorted keys), never
  drawn at random: a chunk that runs again (a Dask worker lost after the commit, a Prefect
  retry) *replaces* its own three files instead of adding a second copy. Every reader of the raw
  files (pyarrow, pandas, a user's own DuckDB ``read_parquet``) sees one row per work item.
- ``outcomes`` is written last. A chunk is committed exactly when its outcomes file exists; the
  views in ``tasks.storage.views`` ignore calls and verifications rows of uncommitted chunks, and
  ``remove_uncommitted`` deletes such leftovers before a resume, so a crash mid-chunk loses and
  double-counts nothing, in the views or in the raw files (resume re-runs those items).
- Files of other chunks are never touched: append-only across chunks, replace-only within one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.records import WorkItemResult
from tasks.storage.location import StoreLocation, parse_store, write_local_atomically
from tasks.storage.schemas import (
    CALLS_SCHEMA,
    OUTCOMES_SCHEMA,
    SCHEMA_VERSION,
    VERIFICATIONS_SCHEMA,
)

# The columns that name one work item in every table (the resume and deduplication key).
WORK_ITEM_KEY = ("run_id", "dataset_name", "generator_model", "planner_model", "task_id", "policy_spec", "seed")

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is safe as a path part and a hive partition value, else raise."""
    if not RUN_ID_PATTERN.match(run_id or ""):
        raise ValueError(
            f"run id {run_id!r}: expected 1-128 characters of letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return run_id


@dataclass(frozen=True)
class ChunkFiles:
    """What one ``write_chunk`` call committed: the three files, each a ``Path`` in a local
    store or an ``s3://`` URL on object storage."""

    chunk_id: str
    run_id: str
    calls: Path | str
    verifications: Path | str
    outcomes: Path | str
    work_items: int
    call_rows: int
    verification_rows: int


def partition_dir(store: str | Path, table: str, run_id: str) -> Path:
    """A local store's partition directory (``partition_path`` serves both kinds of store)."""
    return Path(store) / table / f"run_id={check_run_id(run_id)}"


def partition_path(location: StoreLocation, table: str, run_id: str) -> str:
    """The partition of ``table`` and ``run_id`` in ``location``'s own path form."""
    return location.join(table, f"run_id={check_run_id(run_id)}")


def _key_columns(result: WorkItemResult, chunk_id: str) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "chunk_id": chunk_id,
        "run_id": result.run_id,
        "dataset_name": result.dataset.name,
        "dataset_version": result.dataset.version,
        "dataset_sha256": result.dataset.content_sha256,
        "task_id": result.task_id,
        "policy": result.policy.label,
        "policy_spec": result.policy.to_json(),
        "generator_model": result.generator_model,
        "planner_model": result.planner_model,
        "seed": result.seed,
    }


_OUTCOME_DETAIL_COLUMNS = (
    "nodes", "max_depth", "decompositions", "reverts", "accepted_unverified", "selected_on",
    "selected_tests_total", "selected_tests_passed", "root_trial_passed", "tree_json",
    "cost_usd", "input_tokens", "output_tokens",
)  # fmt: skip


def _tree_columns(event) -> dict[str, object]:
    return {
        "node_id": event.node_id,
        "parent_node_id": event.parent_node_id,
        "depth": event.depth,
        "attempt": event.attempt,
        "sample_index": event.sample_index,
    }


def _micros(unix_s: float) -> int:
    return int(round(unix_s * 1_000_000))


def _rows_to_table(rows: list[dict[str, object]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()


def result_tables(results: Sequence[WorkItemResult], chunk_id: str) -> dict[str, pa.Table]:
    """The three tables of one chunk (pure: no I/O), keyed by table name."""
    call_rows: list[dict[str, object]] = []
    verification_rows: list[dict[str, object]] = []
    outcome_rows: list[dict[str, object]] = []
    for result in results:
        key = _key_columns(result, chunk_id)
        for index, call in enumerate(result.calls):
            call_rows.append(
                {
                    **key,
                    "call_index": index,
                    "step": call.step,
                    "phase": call.phase,
                    "role": call.role,
                    "model": call.model,
                    "input_tokens": call.input_tokens,
                    "output_tokens": call.output_tokens,
                    "cost_usd": float(call.cost_usd),
                    "cost_weight": None if call.cost_weight is None else float(call.cost_weight),
                    "latency_ms": float(call.latency_ms),
                    "cached": call.cached,
                    "error": call.error,
                    "attempts": call.attempts,
                    "request_sha256": call.request_sha256,
                    "response_text": call.response_text,
                    **_tree_columns(call),
                    "prompt_sha256": call.prompt_sha256,
                }
            )
        for index, event in enumerate(result.verifications):
            verdict = event.verdict
            verification_rows.append(
                {
                    **key,
                    "verification_index": index,
                    "step": event.step,
                    "phase": event.phase,
                    "test_source": event.test_source,
                    "passed": verdict.passed,
                    "status": verdict.status,
                    "tests_total": verdict.tests_total,
                    "tests_passed": verdict.tests_passed,
                    "first_failure": verdict.first_failure,
                    "duration_ms": float(verdict.duration_ms),
                    "program_sha256": event.program_sha256,
                    **_tree_columns(event),
                }
            )
        outcome = result.outcome
        outcome_rows.append(
            {
                **key,
                "passed": outcome.passed,
                "status": outcome.status,
                "suites_passed": [(name, bool(ok)) for name, ok in outcome.suites_passed],
                "final_program": outcome.final_program,
                "planner_invoked": outcome.planner_invoked,
                "replans": outcome.replans,
                "model_calls": outcome.model_calls,
                "error": outcome.error,
                "started_at": _micros(result.started_at_s),
                "finished_at": _micros(result.finished_at_s),
                **{name: getattr(outcome, name) for name in _OUTCOME_DETAIL_COLUMNS},
            }
        )
    return {
        "calls": _rows_to_table(call_rows, CALLS_SCHEMA),
        "verifications": _rows_to_table(verification_rows, VERIFICATIONS_SCHEMA),
        "outcomes": _rows_to_table(outcome_rows, OUTCOMES_SCHEMA),
    }


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """``write`` into a temporary file beside ``path``, fsync, rename, fsync the directory:
    readers see the old file or the whole new one, never a part."""
    return write_local_atomically(path, write)


def write_table_atomically(table: pa.Table, path: Path) -> Path:
    return write_atomically(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


def put_table(location: StoreLocation, table: pa.Table, path: str) -> str:
    """Object storage: the whole Parquet file as one object upload (atomic; no rename)."""
    return location.write_atomically(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


def write_store_table(location: StoreLocation, table: pa.Table, table_name: str, run_id: str, stem: str) -> Path | str:
    """Write ``STORE/<table_name>/run_id=<run_id>/<stem>.parquet`` so readers never see a part:
    a local store renames a fsynced temporary file, object storage uploads one whole object."""
    if location.is_local:
        return write_table_atomically(table, partition_dir(location.root, table_name, run_id) / f"{stem}.parquet")
    return put_table(location, table, partition_path(location, table_name, run_id) + f"/{stem}.parquet")


def work_item_key(result: WorkItemResult) -> tuple[str, str, str, str, str, str, int]:
    """The ``WORK_ITEM_KEY`` values of one result, in that order."""
    return (
        result.run_id,
        result.dataset.name,
        result.generator_model,
        result.planner_model,
        result.task_id,
        result.policy.to_json(),
        int(result.seed),
    )


def chunk_id_for(results: Sequence[WorkItemResult]) -> str:
    """The chunk's identity: a hash of its work items' sorted keys, whatever order they finished
    in, so the same items always land in the same files."""
    keys = sorted(json.dumps(work_item_key(result), separators=(",", ":")) for result in results)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def write_chunk(store: str | Path, results: Sequence[WorkItemResult]) -> ChunkFiles:
    """Commit one chunk of finished work items (all of one run) to the store.

    Raises ``ValueError`` for an empty chunk, a bad run id or a chunk mixing runs.
    """
    if not results:
        raise ValueError("write_chunk: the chunk has no work items")
    run_ids = {result.run_id for result in results}
    if len(run_ids) != 1:
        raise ValueError(f"write_chunk: a chunk must belong to one run, got {sorted(run_ids)}")
    run_id = check_run_id(run_ids.pop())
    keys = [work_item_key(result) for result in results]
    if len(set(keys)) != len(keys):
        raise ValueError("write_chunk: the chunk holds a work item twice")
    location = parse_store(store)
    chunk_id = chunk_id_for(results)
    tables = result_tables(results, chunk_id)
    paths: dict[str, Path | str] = {}
    for table_name in ("calls", "verifications", "outcomes"):  # outcomes last: the commit
        written = write_store_table(location, tables[table_name], table_name, run_id, chunk_id)
        paths[table_name] = written if location.is_local else location.display(written)
    return ChunkFiles(
        chunk_id=chunk_id,
        run_id=run_id,
        calls=paths["calls"],
        verifications=paths["verifications"],
        outcomes=paths["outcomes"],
        work_items=tables["outcomes"].num_rows,
        call_rows=tables["calls"].num_rows,
        verification_rows=tables["verifications"].num_rows,
    )


def remove_uncommitted(store: str | Path, run_id: str) -> int:
    """Delete the calls and verifications files of ``run_id`` whose chunk has no outcomes file
    (a chunk that died before its commit), and stray temporary files; returns how many.

    Run it only while no chunk of the run is being written (before a resume plans its work): a
    chunk in flight has not written its outcomes file yet either.
    """
    location = parse_store(store)
    outcomes_dir = partition_path(location, "outcomes", run_id)
    committed = {name.removesuffix(".parquet") for name in location.file_names(outcomes_dir, ".parquet")}
    removed = 0
    for table in ("calls", "verifications", "outcomes"):
        directory = partition_path(location, table, run_id)
        for name in location.file_names(directory):
            stray = name.endswith(".tmp")
            orphan = name.endswith(".parquet") and table != "outcomes" and name.removesuffix(".parquet") not in committed
            if stray or orphan:
                location.delete_file(f"{directory}/{name}")
                removed += 1
    return removed
