"""The chunk writer: ``WorkItemResult``s in, three Parquet files out, each written atomically.

Guarantees:
- One call writes one chunk: a fresh ``chunk_id`` and, per table, one file
  ``STORE/<table>/run_id=<run_id>/<chunk_id>.parquet``. A file is written under a temporary name
  in the same directory, flushed, fsynced and renamed, so a reader never sees a partial file.
- ``outcomes`` is written last. A chunk is committed exactly when its outcomes file exists; the
  views in ``tasks.storage.views`` ignore calls and verifications rows of uncommitted chunks, so
  a crash mid-chunk loses and double-counts nothing (resume re-runs those items).
- Nothing is ever overwritten: files are append-only and named by a new chunk id.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.records import WorkItemResult
from tasks.storage.schemas import (
    CALLS_SCHEMA,
    OUTCOMES_SCHEMA,
    SCHEMA_VERSION,
    VERIFICATIONS_SCHEMA,
)

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
    """What one ``write_chunk`` call committed."""

    chunk_id: str
    run_id: str
    calls: Path
    verifications: Path
    outcomes: Path
    work_items: int
    call_rows: int
    verification_rows: int


def partition_dir(store: str | Path, table: str, run_id: str) -> Path:
    return Path(store) / table / f"run_id={check_run_id(run_id)}"


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


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """``write`` into a temporary file beside ``path``, fsync, rename, fsync the directory:
    readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The suffix keeps the temp file out of the views' "*.parquet" glob.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_table_atomically(table: pa.Table, path: Path) -> Path:
    return write_atomically(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


def new_chunk_id() -> str:
    return uuid.uuid4().hex


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
    chunk_id = new_chunk_id()
    tables = result_tables(results, chunk_id)
    paths: dict[str, Path] = {}
    for table_name in ("calls", "verifications", "outcomes"):  # outcomes last: the commit
        paths[table_name] = write_table_atomically(
            tables[table_name], partition_dir(store, table_name, run_id) / f"{chunk_id}.parquet"
        )
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
