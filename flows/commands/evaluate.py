"""``patflow evaluate``: verify solutions produced elsewhere against a dataset's hidden tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.commands.errors import user_errors


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def evaluate(
    dataset: str = typer.Option(..., help="Built-in dataset name (e.g. humaneval) or path to a JSONL file."),
    samples: Path = typer.Option(
        ..., help="EvalPlus-style JSONL: task_id and solution (full code) or completion (appended to the prompt)."
    ),
    output: Path = typer.Option(..., help="Directory for verdicts.parquet."),
    data_dir: Optional[Path] = typer.Option(
        None, envvar="PATFLOW_DATA_DIR", help="Where benchmark files are looked up."
    ),
    workers: int = typer.Option(os.cpu_count() or 2, min=1, help="Samples verified at once."),
) -> None:
    """Verify every sample; write DIR/verdicts.parquet; print how many passed."""
    from tasks.benchmarks import load_benchmark
    from tasks.evaluation import evaluate_samples, read_samples, write_verdicts
    from tasks.verification import verify

    with user_errors():
        benchmark = load_benchmark(dataset, str(data_dir) if data_dir else None)
        problems_by_id = {problem.task_id: problem for problem in benchmark.problems}
        sample_list = read_samples(samples, problems_by_id, benchmark.info.name)

    def verify_suite(program, tests, time_limits_s):
        return verify(program, tests, time_limits_s=time_limits_s)

    passed = 0
    with Progress(
        TextColumn("[bold]evaluate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[passed]} passed"),
        TimeElapsedColumn(),
    ) as progress:
        bar = progress.add_task("samples", total=len(sample_list), passed=0)

        def on_done(row: dict) -> None:
            nonlocal passed
            passed += row["passed"]
            progress.update(bar, advance=1, passed=passed)

        rows = evaluate_samples(sample_list, problems_by_id, verify_suite, workers, on_done)
    target = write_verdicts(rows, output)
    typer.echo(f"{passed}/{len(rows)} passed ({benchmark.info.name}); verdicts: {target}")
