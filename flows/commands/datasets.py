"""``patflow datasets``: the built-in benchmarks, where each file is, its size and checksum state.

Exit code 0 when every built-in file is present with the pinned checksum, 1 otherwise (so a CI
step can gate on it), 2 for a usage error.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional

import typer

from flows.commands.errors import fail

FORMATS = ("table", "csv", "json")
COLUMNS = ("name", "version", "status", "records", "path", "detail")


def register(app: typer.Typer) -> None:
    app.command("datasets")(datasets)


def datasets(
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="PATFLOW_DATA_DIR",
        help="Where benchmark files are looked up (default: ~/.cache/patflow/datasets).",
    ),
    output_format: str = typer.Option("table", "--format", "-f", help="Output format: table, csv or json."),
) -> None:
    """List the built-in benchmarks: where each file is found, its record count and checksum state."""
    from tasks.benchmarks import dataset_statuses

    if output_format not in FORMATS:
        fail(f"--format {output_format!r}: expected one of {', '.join(FORMATS)}")
    statuses = dataset_statuses(str(data_dir) if data_dir else None)
    rows = [
        {
            "name": s.name,
            "version": s.version,
            "status": s.status,
            "records": s.records,
            "path": s.path or s.expected_path,
            "detail": s.detail,
        }
        for s in statuses
    ]
    typer.echo(render(rows, output_format))
    if any(s.status != "ok" for s in statuses):
        raise typer.Exit(1)


def render(rows: list[dict], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(rows, indent=2)
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    cells = [[str(row[c]) if row[c] is not None else "-" for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)
