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

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.records import WorkItemResult
from tasks.storage.chunk_parquet import ChunkParquet, work_item_key
from tasks.storage.location import StoreLocation, parse_store, write_local_atomically

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


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """``write`` into a temporary file beside ``path``, fsync, rename, fsync the directory:
    readers see the old file or the whole new one, never a part."""
    return write_local_atomically(path, write)


def _write_parquet(data: pa.Table | pa.Buffer, handle: BinaryIO) -> None:
    if isinstance(data, pa.Buffer):  # an encoded file (``ChunkParquet.finish``)
        handle.write(data)
    else:
        pq.write_table(data, handle, compression="zstd")


def write_table_atomically(data: pa.Table | pa.Buffer, path: Path) -> Path:
    """A table, or a Parquet file's bytes, written so readers see it whole or not at all."""
    return write_atomically(path, lambda handle: _write_parquet(data, handle))


def put_table(location: StoreLocation, data: pa.Table | pa.Buffer, path: str) -> str:
    """Object storage: the whole Parquet file as one object upload (atomic; no rename)."""
    return location.write_atomically(path, lambda handle: _write_parquet(data, handle))


def write_store_table(
    location: StoreLocation, data: pa.Table | pa.Buffer, table_name: str, run_id: str, stem: str
) -> Path | str:
    """Write ``STORE/<table_name>/run_id=<run_id>/<stem>.parquet`` (a table, or a Parquet file's
    bytes) so readers never see a part: a local store renames a fsynced temporary file, object
    storage uploads one whole object."""
    if location.is_local:
        return write_table_atomically(data, partition_dir(location.root, table_name, run_id) / f"{stem}.parquet")
    return put_table(location, data, partition_path(location, table_name, run_id) + f"/{stem}.parquet")


def write_chunk(store: str | Path, results: Sequence[WorkItemResult]) -> ChunkFiles:
    """Commit one chunk of finished work items (all of one run) to the store.

    Raises ``ValueError`` for an empty chunk, a bad run id, a chunk mixing runs or holding an
    item twice.
    """
    chunk = ChunkParquet(work_item_key(result) for result in results)
    for result in results:
        chunk.add(result)
    return write_chunk_parquet(store, chunk)


def write_chunk_parquet(store: str | Path, chunk: ChunkParquet) -> ChunkFiles:
    """Commit the files ``chunk`` encoded (``ChunkParquet.add``, one result at a time), outcomes
    last. Raises ``ValueError`` for a bad run id or a chunk with results missing."""
    run_id = check_run_id(chunk.run_id)
    location = parse_store(store)
    files = chunk.finish()
    paths: dict[str, Path | str] = {}
    for table_name in ("calls", "verifications", "outcomes"):  # outcomes last: the commit
        written = write_store_table(location, files[table_name], table_name, run_id, chunk.chunk_id)
        paths[table_name] = written if location.is_local else location.display(written)
    return ChunkFiles(
        chunk_id=chunk.chunk_id,
        run_id=run_id,
        calls=paths["calls"],
        verifications=paths["verifications"],
        outcomes=paths["outcomes"],
        work_items=chunk.rows["outcomes"],
        call_rows=chunk.rows["calls"],
        verification_rows=chunk.rows["verifications"],
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
