"""``patflow report`` and ``patflow sql``: named DuckDB queries (``queries/<name>.sql``, with their
statistics step from ``tasks.analysis.named``), ad-hoc SQL over the same views, and the
self-contained HTML report.

Thin: parses options, calls ``tasks.analysis`` and renders the Arrow result as a rich table, CSV,
JSON or Parquet. ``print_report`` is what ``patflow run`` calls after a sweep.
Exit codes: 0 on success, 2 for bad input (unknown query, bad parameter, bad run id, bad SQL).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from tasks.analysis.named import run_named
from tasks.storage import QueryError, connect, list_queries

FORMATS = ("table", "csv", "json", "parquet")
DEFAULT_QUERY = "policy_comparison"
DEFAULT_STORE = "data/runs"
MAX_TRANSPOSED_ROWS = 8  # wider results than the terminal are shown one column per row


def _format_cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude == 0:
            return "0"
        if magnitude < 1:  # four significant digits, never in e-notation
            return f"{value:.{3 - math.floor(math.log10(magnitude))}f}"
        return f"{value:.4g}"
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _flat_for_csv(table: pa.Table) -> pa.Table:
    """CSV has no lists or structs: such columns are written as JSON text."""
    for index, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            values = [None if v is None else json.dumps(v, default=_json_default)
                      for v in table.column(index).to_pylist()]
            table = table.set_column(index, field.name, pa.array(values, pa.string()))
    return table


def render(table: pa.Table, fmt: str, title: str, file=None) -> None:
    """Write ``table`` to ``file`` (default stdout) as ``table``, ``csv``, ``json`` or
    ``parquet`` (binary: to ``sys.stdout.buffer`` when no file is given)."""
    out = file or sys.stdout
    if fmt == "parquet":
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        binary = getattr(out, "buffer", None)
        (binary or out).write(buffer.getvalue())
        return
    if fmt == "csv":
        buffer = io.BytesIO()
        pa_csv.write_csv(_flat_for_csv(table), buffer)
        out.write(buffer.getvalue().decode("utf-8"))
        return
    if fmt == "json":
        out.write(json.dumps(table.to_pylist(), default=_json_default, indent=2) + "\n")
        return
    console = Console(file=out, width=None if file is None else 200)
    if table.num_rows == 0:
        console.print(f"{title}: no rows (is the store empty or the run id wrong?)")
        return
    numeric = {
        field.name
        for field in table.schema
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
    }
    names = list(table.column_names)
    rows = [[_format_cell(row[name]) for name in names] for row in table.to_pylist()]

    def natural_width(columns: list[str], cells: list[list[str]]) -> int:
        return sum(
            max(len(name), *(len(row[index]) for row in cells)) + 3
            for index, name in enumerate(columns)
        )

    if natural_width(names, rows) > console.width and table.num_rows > 1:
        # Text columns with one value in every row (the run, the models...) go into the title.
        constant = [
            index
            for index, name in enumerate(names)
            if name not in numeric and len({row[index] for row in rows}) == 1
        ][: len(names) - 1]
        if constant:
            title += " — " + ", ".join(f"{names[index]}={rows[0][index]}" for index in constant)
            names = [name for index, name in enumerate(names) if index not in constant]
            rows = [[cell for index, cell in enumerate(row) if index not in constant] for row in rows]
    mostly_measures = 2 * sum(name in numeric for name in names) >= len(names)
    if (
        natural_width(names, rows) > console.width
        and table.num_rows <= MAX_TRANSPOSED_ROWS
        and (mostly_measures or table.num_rows == 1)  # item lists read better as rows
    ):
        console.print(_transposed(names, rows, numeric, title))
        return
    rich_table = Table(title=title, header_style="bold")
    for name in names:
        rich_table.add_column(name, justify="right" if name in numeric else "left", overflow="fold")
    for row in rows:
        rich_table.add_row(*row)
    console.print(rich_table)


def _transposed(names: list[str], rows: list[list[str]], numeric: set[str], title: str) -> Table:
    """One column per result row, headed by its leading text columns; one line per measure."""
    label_count = 0
    while label_count < len(names) - 1 and names[label_count] not in numeric:
        label_count += 1
    rich_table = Table(title=title, header_style="bold")
    rich_table.add_column(" / ".join(names[:label_count]) or "column", style="bold")
    for row in rows:
        rich_table.add_column("\n".join(row[:label_count]) or "", justify="right")
    for index in range(label_count, len(names)):
        rich_table.add_row(names[index], *(row[index] for row in rows))
    return rich_table


def print_report(
    store: str,
    run_ids: list[str] | None,
    query: str = DEFAULT_QUERY,
    params: dict | None = None,
    fmt: str = "table",
    output: Path | None = None,
) -> None:
    """Run ``query`` over ``store`` (restricted to ``run_ids`` if given) and print it."""
    if fmt not in FORMATS:
        raise QueryError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    con = connect(store, run_ids or None)
    try:
        result = run_named(con, query, params or {})
    finally:
        con.close()
    runs = ", ".join(run_ids) if run_ids else "all runs"
    _render_to(result, fmt, f"{query} — {store} ({runs})", output)


def _render_to(table: pa.Table, fmt: str, title: str, output: Path | None) -> None:
    if output is None:
        render(table, fmt, title=title)
        return
    mode = "wb" if fmt == "parquet" else "w"
    with open(output, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
        render(table, fmt, title=title, file=handle)


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("$")
        if not sep or not key:
            raise QueryError(f"--param {pair!r}: expected key=value")
        params[key] = value
    return params


def _store_option() -> Any:
    return typer.Option(
        DEFAULT_STORE,
        "--store",
        envvar="PATFLOW_STORE",
        help="Run store (Parquet + manifests) to query: a directory or s3://bucket/prefix.",
    )


def check_store(store: str) -> None:
    """QueryError unless ``store`` is a directory or an object store that can be read."""
    from tasks.storage import is_object_store, object_store_problem

    if is_object_store(store):
        problem = object_store_problem(store)
        if problem:
            raise QueryError(f"store {store}: {problem}")
    elif not Path(store).exists():
        raise QueryError(f"store {store}: no such directory (set --store or PATFLOW_STORE)")


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        store: str = _store_option(),
        run_id: list[str] = typer.Option(
            None, "--run-id", help="Restrict to this run; repeat for several (default: all runs)."
        ),
        query: str = typer.Option(
            DEFAULT_QUERY, "--query", "-q", help="Named query in queries/ (see --list)."
        ),
        param: list[str] = typer.Option(
            None, "--param", "-p", help="Query parameter as key=value; repeatable."
        ),
        fmt: str = typer.Option(
            "table", "--format", "-f", help="Output format: table, csv, json or parquet."
        ),
        output: Path = typer.Option(
            None, "--output", "-o", help="Write the result to this file instead of stdout."
        ),
        html: Path = typer.Option(
            None, "--html", help="Write the self-contained HTML report of the runs to this file."
        ),
        list_: bool = typer.Option(
            False, "--list", help="List the named queries and what each answers, then exit."
        ),
    ) -> None:
        """Print a named DuckDB query over a run store (default: policy_comparison), or --html."""
        try:
            if list_:
                for name, purpose in list_queries():
                    typer.echo(f"{name}\t{purpose}")
                return
            check_store(store)
            run_ids = list(run_id or []) or None
            if html is not None:
                from tasks.analysis.html import write_report

                summary = write_report(store, run_ids, html)
                typer.echo(f"wrote {html} ({summary})")
                return
            print_report(str(store), run_ids, query, _parse_params(param or []), fmt, output)
        except (QueryError, ValueError) as error:
            typer.echo(f"patflow report: {error}", err=True)
            raise typer.Exit(2) from None

    @app.command("sql")
    def sql(
        statement: str = typer.Argument(
            ..., help="A SELECT over the views calls, verifications, outcomes (quote it)."
        ),
        store: str = _store_option(),
        run_id: list[str] = typer.Option(
            None, "--run-id", help="Restrict the views to this run; repeatable (default: all)."
        ),
        fmt: str = typer.Option(
            "table", "--format", "-f", help="Output format: table, csv, json or parquet."
        ),
        output: Path = typer.Option(
            None, "--output", "-o", help="Write the result to this file instead of stdout."
        ),
    ) -> None:
        """Run your own SQL over the same committed-only views the named queries use."""
        try:
            if fmt not in FORMATS:
                raise QueryError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
            check_store(store)
            con = connect(store, list(run_id or []) or None)
            try:
                relation = con.sql(statement)
                if relation is None:
                    raise QueryError("expected a query that returns rows (SELECT ...)")
                to_table = getattr(relation, "to_arrow_table", None) or relation.arrow
                table = to_table()
            except duckdb.Error as error:
                raise QueryError(str(error).splitlines()[0]) from None
            finally:
                con.close()
            _render_to(table, fmt, "sql", output)
        except (QueryError, ValueError) as error:
            typer.echo(f"patflow sql: {error}", err=True)
            raise typer.Exit(2) from None
