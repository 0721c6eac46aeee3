"""``patflow compact``: rewrite finished runs' chunk files as one file per table (exactly-once kept)."""

from __future__ import annotations

from typing import Optional

import typer

from flows.commands.errors import fail, user_errors


def register(app: typer.Typer) -> None:
    app.command("compact")(compact)


def compact(
    store: str = typer.Option(
        "data/runs", envvar="PATFLOW_STORE", help="Run store: a directory or s3://bucket/prefix."
    ),
    run_id: Optional[list[str]] = typer.Option(
        None, "--run-id", help="Run to compact, repeatable (default: every run in the store)."
    ),
) -> None:
    """Merge each run's many chunk files into one file per table, so queries open few files.

    Only for runs no sweep is writing to: a run being resumed must finish first."""
    from tasks.storage.compact import compact_run, run_ids_in_store

    with user_errors():
        run_ids = run_id or run_ids_in_store(store)
        if not run_ids:
            fail(f"no runs in {store}")
        for name in run_ids:
            result = compact_run(store, name)
            typer.echo(
                f"{result.run_id}: {result.files_before} files -> {result.files_after}"
                f" ({result.work_items} work items)"
            )
