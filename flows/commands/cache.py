"""``patflow cache stats|clear``: inspect or empty the shared model-response cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from flows.commands.errors import fail

cache_app = typer.Typer(
    help="The model-response cache shared by all runs (default data/cache).", no_args_is_help=True
)

CACHE_DIR_OPTION = typer.Option(
    None,
    "--cache-dir",
    envvar="PATFLOW_CACHE_DIR",
    help="Response cache directory (default: data/cache under the current directory).",
)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


def _open(cache_dir: Optional[Path]):
    from tasks.models.cache import ResponseCache, default_cache_dir

    directory = cache_dir if cache_dir is not None else default_cache_dir()
    if directory.exists() and not directory.is_dir():
        fail(f"{directory}: not a directory (expected the response cache directory)")
    return ResponseCache(directory)


@cache_app.command("stats")
def stats(
    cache_dir: Optional[Path] = CACHE_DIR_OPTION,
    output_format: str = typer.Option("table", "--format", help="Output: table, csv or json."),
) -> None:
    """Entries, size and tokens per model in the response cache."""
    if output_format not in ("table", "csv", "json"):
        fail(f"--format {output_format!r}: expected table, csv or json")
    import sqlite3

    try:
        summary = _open(cache_dir).stats()
    except sqlite3.DatabaseError as error:
        fail(f"{cache_dir or 'data/cache'}: not a readable response cache ({error})")
    if output_format == "json":
        typer.echo(
            json.dumps(
                {
                    "path": summary.path,
                    "entries": summary.entries,
                    "size_bytes": summary.size_bytes,
                    "models": [m.__dict__ for m in summary.by_model],
                },
                indent=2,
            )
        )
        return
    if output_format == "csv":
        typer.echo("model,entries,input_tokens,output_tokens")
        for model in summary.by_model:
            typer.echo(f"{model.model},{model.entries},{model.input_tokens},{model.output_tokens}")
        return
    typer.echo(f"cache: {summary.path}")
    typer.echo(f"entries: {summary.entries}  size: {summary.size_bytes / 1e6:.2f} MB")
    if summary.by_model:
        width = max(len("model"), *(len(m.model) for m in summary.by_model))
        typer.echo(f"{'model':<{width}}  {'entries':>8}  {'input_tokens':>12}  {'output_tokens':>13}")
        for model in summary.by_model:
            typer.echo(
                f"{model.model:<{width}}  {model.entries:>8}  {model.input_tokens:>12}"
                f"  {model.output_tokens:>13}"
            )


@cache_app.command("clear")
def clear(
    cache_dir: Optional[Path] = CACHE_DIR_OPTION,
    model: Optional[str] = typer.Option(None, help="Only this model's entries (litellm string)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete cached responses (all, or one model's). The next run pays for them again."""
    cache = _open(cache_dir)
    if not yes:
        what = f"{model}'s entries" if model else "every entry"
        typer.confirm(f"Delete {what} from {cache.path}?", abort=True)
    deleted = cache.clear(model)
    typer.echo(f"deleted {deleted} cached responses from {cache.path}")
