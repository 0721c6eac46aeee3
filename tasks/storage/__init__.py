"""Run storage: Parquet chunks in hive partitions, a run manifest, and DuckDB views + queries.

Layout of a store ``STORE``::

    STORE/calls/run_id=<run_id>/<chunk_id>.parquet          one row per model call
    STORE/verifications/run_id=<run_id>/<chunk_id>.parquet  one row per verification
    STORE/outcomes/run_id=<run_id>/<chunk_id>.parquet       one row per work item (the commit)
    STORE/manifests/<run_id>.json                           resolved config and its sha256

``STORE`` is a local directory or an object-storage prefix ``s3://bucket/prefix``
(``tasks.storage.location``: endpoint and credentials from the standard AWS variables).

Public API (everything else is an implementation detail): ``write_chunk``, ``ChunkFiles``,
``ChunkParquet`` and ``write_chunk_parquet`` (a chunk's files encoded as its items finish),
``remove_uncommitted``, ``write_manifest``, ``read_manifest``, ``remove_run``, ``ManifestMismatch``,
``completed_work_item_specs``, ``connect``, ``run_query``, ``list_queries``,
``QueryError``, ``parse_store``, ``StoreLocation``, ``is_object_store``,
``object_store_problem``, and the schemas in ``tasks.storage.schemas``.
"""

from tasks.storage.chunk_parquet import ChunkParquet
from tasks.storage.location import StoreLocation, is_object_store, object_store_problem, parse_store
from tasks.storage.manifest import ManifestMismatch, manifest_run_ids, read_manifest, remove_run, write_manifest
from tasks.storage.schemas import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES
from tasks.storage.views import (
    QueryError,
    completed_work_item_keys,
    completed_work_item_specs,
    connect,
    list_queries,
    queries_dir,
    run_query,
)
from tasks.storage.writer import ChunkFiles, check_run_id, remove_uncommitted, write_chunk, write_chunk_parquet

__all__ = [
    "SCHEMAS",
    "SCHEMA_VERSION",
    "TABLE_NAMES",
    "ChunkFiles",
    "ChunkParquet",
    "ManifestMismatch",
    "QueryError",
    "StoreLocation",
    "check_run_id",
    "completed_work_item_keys",
    "completed_work_item_specs",
    "connect",
    "is_object_store",
    "list_queries",
    "manifest_run_ids",
    "object_store_problem",
    "parse_store",
    "queries_dir",
    "read_manifest",
    "remove_run",
    "remove_uncommitted",
    "run_query",
    "write_chunk",
    "write_chunk_parquet",
    "write_manifest",
]
