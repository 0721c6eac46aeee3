"""DuckDB over the run store: the three views, resume keys, and the named-query runner.

Guarantees:
- ``connect(store)`` returns an in-memory DuckDB connection with views ``calls``,
  ``verifications`` and ``outcomes`` over ``STORE/<table>/run_id=*/*.parquet`` (hive partitions,
  ``union_by_name`` so files of older schema versions read with NULLs in newer columns). The views
  always have the current schema's columns, in schema order, even when a table has no files yet.
- Only committed chunks are visible: an outcomes row is committed; calls and verifications rows
  show only if their chunk's outcomes row for the same work item is visible. If a work item was
  committed twice (a retried chunk), ``outcomes`` keeps one copy (earliest finish, then lowest
  chunk id) and calls/verifications keep only that copy's rows: nothing is double-counted.
- ``completed_work_item_specs`` (the sweep's resume key) is a DuckDB query over ``outcomes``;
  the sweep anti-joins its planned items against it, never checking that a file exists.
- ``run_query`` runs ``queries/<name>.sql``; Python only loads the file and binds parameters.
- A store on object storage (``s3://bucket/prefix``) gives the same views with the same rules.
  DuckDB's ``httpfs`` extension is not used (``INSTALL httpfs`` downloads it, and this machine
  is offline): the committed files are listed through pyarrow's S3 file system and each table
  is registered as a ``pyarrow.dataset`` with the current schema (a file lacking a newer column
  reads NULL there, as ``union_by_name`` does locally). DuckDB scans the dataset lazily, pushing
  projections and filters down, so a query reads only the columns it needs.

Query parameters: each query's header declares its ``$parameters`` as ``required`` or
``optional``. An optional parameter that is not given is bound to NULL and the SQL treats NULL as
"no filter / the documented default" (``$run_id IS NULL OR run_id = $run_id``). Values arrive as
given (strings from the CLI); the SQL casts them (``CAST($seed AS INTEGER)``). An unknown or
missing required parameter is a ``QueryError`` with a one-line message.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tasks.storage.location import StoreLocation, parse_store
from tasks.storage.schemas import SCHEMAS, TABLE_NAMES
from tasks.storage.writer import WORK_ITEM_KEY, check_run_id


class QueryError(ValueError):
    """A named query that does not exist, has a bad header, or got bad parameters."""


# --------------------------------------------------------------------------- views
def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _partition_dirs(store: Path, table: str, run_ids: Iterable[str] | None) -> list[Path]:
    table_dir = store / table
    if run_ids is None:
        return sorted(path for path in table_dir.glob("run_id=*") if path.is_dir())
    return [table_dir / f"run_id={check_run_id(run_id)}" for run_id in run_ids]


def _table_source(con: duckdb.DuckDBPyConnection, store: Path, table: str, run_ids) -> str:
    """SQL for every row of ``table`` in the store (committed or not), current columns."""
    empty_name = f"_empty_{table}"
    con.register(f"_arrow_empty_{table}", SCHEMAS[table].empty_table())
    con.execute(f"CREATE TEMP TABLE {empty_name} AS SELECT * FROM _arrow_empty_{table}")
    con.unregister(f"_arrow_empty_{table}")
    globs = [
        str(directory / "*.parquet")
        for directory in _partition_dirs(store, table, run_ids)
        if any(directory.glob("*.parquet"))
    ]
    columns = ", ".join(f'"{field.name}"' for field in SCHEMAS[table])
    if not globs:
        return f"SELECT {columns} FROM {empty_name}"
    glob_list = "[" + ", ".join(_sql_string(glob) for glob in globs) + "]"
    files = (
        f"SELECT * FROM read_parquet({glob_list}, hive_partitioning = true,"
        f" union_by_name = true, hive_types = {{'run_id': 'VARCHAR'}})"
    )
    # UNION with the empty current-schema table so columns newer than every file still exist.
    return f"SELECT {columns} FROM ({files} UNION ALL BY NAME SELECT * FROM {empty_name})"


def _object_files(location: StoreLocation, table: str, run_ids: list[str] | None) -> list[str]:
    """Every ``*.parquet`` object of ``table`` (of ``run_ids``, None = all runs): one listing of
    the table's prefix, or one per requested run's partition."""
    import pyarrow.fs as pafs

    table_dir = location.join(table)
    if run_ids is not None:
        return [
            f"{directory}/{name}"
            for directory in (location.join(table, f"run_id={check_run_id(run_id)}") for run_id in run_ids)
            for name in location.file_names(directory, ".parquet")
        ]
    selector = pafs.FileSelector(table_dir, allow_not_found=True, recursive=True)
    files = []
    for info in location.filesystem.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
            continue
        partition = info.path[len(table_dir) + 1:].split("/")
        if len(partition) == 2 and partition[0].startswith("run_id="):
            files.append(info.path)
    return sorted(files)


def _object_table_source(con: duckdb.DuckDBPyConnection, location: StoreLocation, table: str, run_ids) -> str:
    """SQL for every row of ``table`` on object storage: a registered pyarrow dataset."""
    import pyarrow.dataset as ds

    files = _object_files(location, table, run_ids)
    columns = ", ".join(f'"{field.name}"' for field in SCHEMAS[table])
    source = (
        ds.dataset(files, schema=SCHEMAS[table], format="parquet", filesystem=location.filesystem)
        if files
        else SCHEMAS[table].empty_table()
    )
    con.register(f"_files_{table}", source)
    return f"SELECT {columns} FROM _files_{table}"


def connect(
    store: str | Path | StoreLocation, run_ids: Iterable[str] | None = None, *, outcomes_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the committed-only views over ``store``.

    ``run_ids`` restricts the views to those runs (None = every run in the store). A missing or
    empty store gives empty views with the right columns. ``outcomes_only`` skips the calls and
    verifications views (binding a view reads every file's footer: resume needs only outcomes).
    """
    location = parse_store(store)
    run_id_list = None if run_ids is None else list(run_ids)
    con = duckdb.connect(":memory:")
    # Every view re-reads each file's footer when a query binds; cache them (files never change).
    con.execute("SET parquet_metadata_cache = true")
    tables = ("outcomes",) if outcomes_only else TABLE_NAMES
    for table in tables:
        if location.is_local:
            source = _table_source(con, Path(location.root), table, run_id_list)
        else:
            source = _object_table_source(con, location, table, run_id_list)
        con.execute(f"CREATE TEMP VIEW _all_{table} AS {source}")
    key = ", ".join(WORK_ITEM_KEY)
    con.execute(
        f"""
        CREATE TEMP VIEW outcomes AS
        SELECT * FROM _all_outcomes
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY finished_at, chunk_id) = 1
        """
    )
    join = " AND ".join(f"o.{column} = t.{column}" for column in ("chunk_id", *WORK_ITEM_KEY))
    for table in tables:
        if table == "outcomes":
            continue
        con.execute(
            f"""
            CREATE TEMP VIEW {table} AS
            SELECT t.* FROM _all_{table} AS t
            WHERE EXISTS (SELECT 1 FROM outcomes AS o WHERE {join})
            """
        )
    return con


def _arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    to_table = getattr(relation, "to_arrow_table", None) or relation.arrow  # duckdb 1.x: arrow()
    return to_table()


# --------------------------------------------------------------------------- resume
def completed_work_item_specs(store: str | Path | StoreLocation, run_id: str) -> set[tuple[str, str, int]]:
    """(task_id, policy_spec JSON, seed) of every committed work item of ``run_id``.

    The sweep's resume key: two variants of one policy in a run (``standard`` on two
    generators, ``pat`` with two budgets) share a name but never a spec."""
    con = connect(store, [run_id], outcomes_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT task_id, policy_spec, seed FROM outcomes WHERE run_id = $run_id",
            {"run_id": run_id},
        ).fetchall()
    finally:
        con.close()
    return {(task_id, spec, int(seed)) for task_id, spec, seed in rows}


def completed_work_item_keys(store: str | Path | StoreLocation, run_id: str) -> set[tuple[str, str, str, str, str, int]]:
    """(dataset_name, generator_model, planner_model, task_id, policy_spec JSON, seed) of every
    committed work item of ``run_id``: the sweep's resume key (``tasks.sweep.WorkItem.key``).
    One run may hold several benchmarks (which can share task ids) and model configurations."""
    con = connect(store, [run_id], outcomes_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT dataset_name, generator_model, planner_model, task_id, policy_spec, seed"
            " FROM outcomes WHERE run_id = $run_id",
            {"run_id": run_id},
        ).fetchall()
    finally:
        con.close()
    return {(*row[:5], int(row[5])) for row in rows}


# --------------------------------------------------------------------------- named queries
def queries_dir() -> Path:
    """Where the named queries live, first match wins.

    ``PATFLOW_QUERIES_DIR`` if set; else the repository's ``queries/`` beside the ``tasks``
    package (a checkout or an editable install); else the installed data-only package
    ``patflow_queries`` (a wheel install ships ``queries/*.sql`` under that name).
    """
    override = os.environ.get("PATFLOW_QUERIES_DIR")
    if override:
        return Path(override)
    beside_package = Path(__file__).resolve().parents[2] / "queries"
    if beside_package.is_dir():
        return beside_package
    spec = importlib.util.find_spec("patflow_queries")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    return beside_package


@dataclass(frozen=True)
class QueryHeader:
    name: str
    purpose: str
    required_params: tuple[str, ...]
    optional_params: tuple[str, ...]
    columns: tuple[str, ...]


_SECTION = re.compile(r"^(Purpose|Parameters|Columns):\s*(.*)$")
_PARAM = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)\s+(required|optional)\b")
_COLUMN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\s|$)")


def parse_header(path: Path) -> QueryHeader:
    """Read a query file's header comment; ``QueryError`` names the file and line if malformed.

    The header is the leading block of ``--`` lines::

        -- Purpose: one line saying what question the query answers.
        -- Parameters:
        --   $run_id  optional  what it does; NULL (not given) means ...
        -- Columns:
        --   run_id  what the column holds
        --     (deeper-indented lines continue the entry above)
    ``Parameters:`` may say ``none`` on its own line.
    """
    sections: dict[str, list[tuple[int, str]]] = {}
    current: str | None = None
    for line_number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.startswith("--"):
            break
        text = raw[2:].removeprefix(" ").rstrip()
        match = _SECTION.match(text)
        if match:
            current = match.group(1)
            sections[current] = []
            if match.group(2):
                sections[current].append((line_number, match.group(2)))
            continue
        if current is None or not text.strip():
            continue
        if current == "Purpose" or text.startswith("  ") and not text.startswith("   "):
            sections[current].append((line_number, text.strip()))
    for section in ("Purpose", "Parameters", "Columns"):
        if not sections.get(section):
            raise QueryError(f"{path}: header: expected a '-- {section}:' section with content")
    required: list[str] = []
    optional: list[str] = []
    for line_number, text in sections["Parameters"]:
        if text.lower() in ("none", "none.", "(none)"):
            continue
        match = _PARAM.match(text)
        if not match:
            raise QueryError(
                f"{path}:{line_number}: expected '$name required|optional description', got {text!r}"
            )
        (required if match.group(2) == "required" else optional).append(match.group(1))
    columns = []
    for line_number, text in sections["Columns"]:
        match = _COLUMN.match(text)
        if not match:
            raise QueryError(f"{path}:{line_number}: expected 'column_name  description'")
        columns.append(match.group(1))
    return QueryHeader(
        name=path.stem,
        purpose=" ".join(text for _, text in sections["Purpose"]),
        required_params=tuple(required),
        optional_params=tuple(optional),
        columns=tuple(columns),
    )


def query_path(name: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise QueryError(f"query name {name!r}: expected letters, digits and '_' only")
    path = queries_dir() / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(query for query, _ in list_queries()) or "none"
        raise QueryError(f"unknown query {name!r} (known: {known})")
    return path


def list_queries() -> list[tuple[str, str]]:
    """(name, purpose) of every query in ``queries/``, sorted by name."""
    return [(path.stem, parse_header(path).purpose) for path in sorted(queries_dir().glob("*.sql"))]


def bind_parameters(header: QueryHeader, params: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(params or {})
    declared = set(header.required_params) | set(header.optional_params)
    unknown = sorted(set(given) - declared)
    if unknown:
        accepted = ", ".join(f"${name}" for name in sorted(declared)) or "none"
        raise QueryError(
            f"query {header.name!r}: unknown parameter ${unknown[0]} (accepted: {accepted})"
        )
    missing = [name for name in header.required_params if given.get(name) is None]
    if missing:
        raise QueryError(f"query {header.name!r}: parameter ${missing[0]} is required")
    return {name: given.get(name) for name in (*header.required_params, *header.optional_params)}


def run_query(
    store_or_con: str | Path | duckdb.DuckDBPyConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
) -> pa.Table:
    """Run ``queries/<name>.sql`` against a store (or an open ``connect`` connection)."""
    path = query_path(name)
    header = parse_header(path)
    bound = bind_parameters(header, params)
    sql = path.read_text(encoding="utf-8")
    owns_connection = not isinstance(store_or_con, duckdb.DuckDBPyConnection)
    con = connect(store_or_con) if owns_connection else store_or_con
    try:
        try:
            return _arrow(con.sql(sql, params=bound))
        except duckdb.ConversionException as error:
            first_line = str(error).splitlines()[0]
            raise QueryError(f"query {name!r}: a parameter has the wrong type: {first_line}") from None
    finally:
        if owns_connection:
            con.close()
