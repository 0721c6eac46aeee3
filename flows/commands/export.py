"""``patflow export``: verified solutions of a run as training data (JSONL, Parquet, chat or
preference records) with a provenance file. Thin: options in, ``tasks.analysis.export`` does it.
Exit codes: 0 on success, 2 for bad input (bad run id, format, filter or benchmark name).
"""

from __future__ import annotations

from pathlib import Path

import typer

from tasks.analysis.export import DEFAULT_NGRAM, FORMATS, export_training_data
from flows.commands.report import check_store
from tasks.storage import QueryError

DEFAULT_STORE = "data/runs"


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        run_id: list[str] = typer.Option(..., "--run-id", help="Run to export; repeatable."),
        output: Path = typer.Option(..., "--output", "-o", help="File to write (provenance goes beside it)."),
        fmt: str = typer.Option(
            "jsonl", "--format", "-f",
            help="jsonl (one solution per line), parquet, chat (messages for SFT) or preference "
            "(chosen/rejected pairs of one problem).",
        ),
        where: str = typer.Option(
            None, "--where",
            help="DuckDB predicate over the export_candidates columns, e.g. \"policy = 'pat'\".",
        ),
        decontaminate: str = typer.Option(
            None, "--decontaminate",
            help="Comma-separated built-in benchmarks (humaneval,mbpp,...): drop problems sharing "
            "an n-gram with their prompts or reference solutions.",
        ),
        ngram: int = typer.Option(DEFAULT_NGRAM, "--ngram", help="n of the decontamination n-grams."),
        store: str = typer.Option(
            DEFAULT_STORE, "--store", envvar="PATFLOW_STORE", help="Run store: a directory or s3://bucket/prefix."
        ),
        data_dir: Path = typer.Option(
            None, "--data-dir", envvar="PATFLOW_DATA_DIR", help="Where benchmark files are looked up."
        ),
    ) -> None:
        """Export the solutions that passed every hidden suite, deduplicated, as training data."""
        try:
            if fmt not in FORMATS:
                raise QueryError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
            check_store(store)
            names = [name.strip() for name in (decontaminate or "").split(",") if name.strip()]
            summary = export_training_data(
                store, list(run_id), output, fmt=fmt, where=where, decontaminate=names,
                ngram=ngram, data_dir=str(data_dir) if data_dir else None,
            )
        except (QueryError, ValueError) as error:
            typer.echo(f"patflow export: {error}", err=True)
            raise typer.Exit(2) from None
        for warning in summary.warnings:
            typer.echo(f"warning: {warning}", err=True)
        counts = summary.counts
        typer.echo(
            f"wrote {summary.written} records to {summary.output} ({counts['passing']} passing,"
            f" {counts['duplicates_dropped']} duplicates and {counts['contaminated_dropped']}"
            f" contaminated dropped); provenance: {summary.provenance}"
        )
