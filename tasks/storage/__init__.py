"""Run storage: Parquet chunks in hive partitions, a run manifest, and DuckDB views + queries.

Layout of a store ``STORE``::

    STORE/calls/run_id=<run_id>/<chunk_id>.parquet          one row per model call
    STORE/verifications/run_id=<run_id>/<chunk_id>.parquet  one row per verification
    STORE/outcomes/run_id=<run_id>/<chunk_id>.parquet       one row per work item (the commit)
    STORE/manifests/<run_id>.json                           resolved config and its sha256

Public API (everything else is an implementation detail): ``write_chunk``, ``ChunkFiles``,
``remove_uncommitted``, ``write_manifest``, ``read_manifest``, ``remove_run``, ``ManifestMismatch``,
``completed_work_item_specs``, ``connect``, ``run_query``, ``list_queries``,
``QueryError``, and the schemas in ``tasks.storage.schemas``.
"""

from tasks.storage.manifest import ManifestMismatch, read_manifest, remove_run, write_manifest
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
from tasks.storage.writer import ChunkFiles, check_run_id, remove_uncommitted, write_chunk

__all__ = [
    "SCHEMAS",
    "SCHEMA_VERSION",
    "TABLE_NAMES",
    "ChunkFiles",
    "ManifestMismatch",
    "QueryError",
    "check_run_id",
    "completed_work_item_keys",
    "completed_work_item_specs",
    "connect",
    "list_queries",
    "queries_dir",
    "read_manifest",
    "remove_run",
    "remove_uncommitted",
    "run_query",
    "write_chunk",
    "write_manifest",
]
