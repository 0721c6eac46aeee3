"""``patflow run``: a sweep (benchmarks x policies x model configurations x seeds), then the
comparison per benchmark; or, with ``--estimate``, what the sweep would cost.

The sweep comes from ``--config sweep.yaml`` (see ``tasks/sweep_config.py``) or from the flags,
which build the same config document (and so the same config hash). Everything is checked
before Prefect or Dask start; a mistake is one line naming the file and line, exit 2, and
nothing is written to the store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from flows.commands.errors import fail, user_errors

DEFAULT_POLICIES = ["standard", "pat"]
# Flags that describe the sweep itself: with --config they would silently disagree with the file.
MATRIX_FLAGS = (
    "benchmark", "policy", "generator", "planner", "api_base", "api_key_env", "max_concurrency",
    "models_config", "seeds", "limit", "chunk_size", "temperature", "max_tokens",
)


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    config_file: Optional[Path] = typer.Option(
        None, "--config", envvar="PATFLOW_CONFIG",
        help="Sweep config (YAML): benchmarks, models, configurations, policies, seeds, limits. "
        "The sweep flags below are a shortcut for a one-benchmark config and cannot be mixed with it.",
    ),
    estimate: bool = typer.Option(
        False, "--estimate",
        help="Do not run the sweep: run it on the simulator standing in for each model and print the "
        "projected calls, tokens and USD at the real models' prices. No request reaches a real endpoint.",
    ),
    sample: Optional[int] = typer.Option(
        None, "--sample", min=1, help="With --estimate: run only a seeded sample of N problems per benchmark and scale up."
    ),
    estimate_store: Optional[Path] = typer.Option(
        None, "--estimate-store", help="With --estimate: keep the simulated run's store here (default: a temporary directory)."
    ),
    benchmark: Optional[str] = typer.Option(
        None, envvar="PATFLOW_BENCHMARK", help="Built-in benchmark name or path to a JSONL file. Default: humaneval."
    ),
    policy: Optional[list[str]] = typer.Option(
        None, "--policy",
        help="Policy to run, repeatable, parameters after a colon: pat:max_plans=2; a policy may name its own "
        "models: standard:generator=sim/large (the large-model baseline). Default: standard and pat. "
        "`patflow policies` lists every policy and parameter.",
    ),
    generator: Optional[str] = typer.Option(
        None, envvar="PATFLOW_GENERATOR", help="litellm model string of the generator. Default: sim/small."
    ),
    planner: Optional[str] = typer.Option(
        None, envvar="PATFLOW_PLANNER", help="litellm model string of the planner. Default: sim/large."
    ),
    api_base: Optional[str] = typer.Option(
        None, envvar="PATFLOW_API_BASE", help="Base URL of an OpenAI-compatible server (vLLM, Ollama, sim serve)."
    ),
    api_key_env: Optional[str] = typer.Option(
        None, help="Name of the environment variable that holds the API key (never the key itself)."
    ),
    max_concurrency: Optional[int] = typer.Option(None, min=1, help="Concurrent requests per model and worker (default 16)."),
    models_config: Optional[Path] = typer.Option(
        None, envvar="PATFLOW_MODELS_CONFIG",
        help="TOML file of model entries (api_base, api_key_env, limits, prices, cost_weight); "
        "entries win over the options above.",
    ),
    seeds: Optional[int] = typer.Option(None, min=1, help="Samples per problem and policy (seeds 0..N-1). Default: 1."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N problems."),
    store: Optional[str] = typer.Option(
        None, envvar="PATFLOW_STORE",
        help="Run store: a directory or s3://bucket/prefix (endpoint and credentials from the AWS_* variables). "
        "Default: the config's store, else data/runs.",
    ),
    run_id: Optional[str] = typer.Option(
        None, help="Name of this run; default: the config's run_id, else benchmark and time. Re-use it to resume."
    ),
    overwrite: bool = typer.Option(False, help="Delete an existing run of this id first."),
    chunk_size: Optional[int] = typer.Option(None, min=1, help="Work items per Prefect task (default: automatic, from the item count and the cluster's threads)."),
    workers: Optional[int] = typer.Option(None, min=1, help="Local Dask worker processes (default: CPU count)."),
    dask_address: Optional[str] = typer.Option(
        None, envvar="PATFLOW_DASK_ADDRESS", help="Address of an existing Dask scheduler."
    ),
    data_dir: Optional[Path] = typer.Option(
        None, envvar="PATFLOW_DATA_DIR", help="Where benchmark files are looked up."
    ),
    cache_dir: Optional[Path] = typer.Option(
        None, envvar="PATFLOW_CACHE_DIR", help="Response cache directory (default: data/cache)."
    ),
    temperature: Optional[float] = typer.Option(
        None, help="Override every policy's own sampling temperatures (default: the policies')."
    ),
    max_tokens: Optional[int] = typer.Option(None, help="Completion token limit of every model call (default 1024)."),
    output_format: str = typer.Option("table", "--format", help="Comparison output: table, csv or json."),
    reference_generator: Optional[str] = typer.Option(
        None,
        help="Show costs relative to `standard` on this generator (e.g. sim/large with "
        "--policy standard:generator=sim/large: the paper's PaT-vs-large-model view). "
        "Default: relative to `standard` on each row's own generator.",
    ),
) -> None:
    """Run a sweep on Dask through Prefect, store Parquet, print the comparison per benchmark."""
    options = dict(locals())
    with user_errors():
        config = build_config(options)
        if not estimate:
            from tasks.sweep_config import check_reachable

            check_reachable(config)
    if estimate:
        _estimate(config, sample, estimate_store, output_format)
        return
    if sample is not None or estimate_store is not None:
        fail("--sample and --estimate-store go with --estimate")
    _run(config, overwrite, output_format, reference_generator)


def build_config(options: dict):
    """The checked ``RunConfig`` of the command line: from ``--config`` or from the flags."""
    from tasks.model_config import load_model_entries
    from tasks.sweep_config import ResolveOptions, config_from_flags, flags_document, load_sweep_config

    if options["output_format"] not in ("table", "csv", "json"):
        fail(f"unknown --format '{options['output_format']}' (expected table, csv or json)")
    resolve = ResolveOptions(
        store=str(options["store"]) if options["store"] else None,
        run_id=options["run_id"],
        data_dir=str(options["data_dir"]) if options["data_dir"] else None,
        cache_dir=str(options["cache_dir"]) if options["cache_dir"] else None,
        workers=options["workers"],
        dask_address=options["dask_address"],
    )
    if options["config_file"] is not None:
        given = [name for name in MATRIX_FLAGS if options[name] is not None]
        if given:
            flag = "--" + given[0].replace("_", "-")
            fail(f"{flag} describes the sweep and cannot be combined with --config {options['config_file']}; put it in the file")
        return load_sweep_config(options["config_file"], resolve)
    entries = load_model_entries(options["models_config"]) if options["models_config"] else {}
    document = flags_document(
        benchmark=options["benchmark"] or "humaneval",
        policies=options["policy"] or DEFAULT_POLICIES,
        generator=options["generator"] or "sim/small",
        planner=options["planner"] or "sim/large",
        api_base=options["api_base"],
        api_key_env=options["api_key_env"],
        max_concurrency=options["max_concurrency"],
        model_entries=entries,
        seeds=options["seeds"] or 1,
        limit=options["limit"],
        run_id=None,
        temperature=options["temperature"],
        max_tokens=options["max_tokens"] or 1024,
        chunk_size=options["chunk_size"],
    )
    return config_from_flags(document, resolve)


def _run(config, overwrite: bool, output_format: str, reference_generator: str | None) -> None:
    from flows.cluster import shared_prefect_api
    from flows.sweep import claim_run, comparison_by_benchmark, make_task_runner, sweep
    from flows.commands.report import render

    with user_errors():
        if config.dask_address:  # what a remote worker needs, checked before anything is written
            from flows.cluster import check_cluster

            for selection in config.benchmarks:
                check_cluster(config.dask_address, selection.name, config.data_dir, config.cache_dir, config.store)
        claim_run(config, overwrite)
    # Sandbox runs per worker: a local cluster's workers share this machine's cores. Each worker
    # taking all of them oversubscribes the CPU cores-squared times and turns load into false
    # timeouts; two per core is what the demo measured fastest (a run is partly fork/IO wait).
    local_workers = None if config.dask_address else (config.workers or os.cpu_count() or 1)
    verify_concurrency = max(2, 2 * (os.cpu_count() or 1) // local_workers) if local_workers else None
    with shared_prefect_api():  # the flow and every worker report to one API
        summary = sweep.with_options(task_runner=make_task_runner(config.dask_address, config.workers))(
            config, verify_concurrency=verify_concurrency
        )
    typer.echo(
        f"run {summary.run_id}: {summary.work_items_run} work items run"
        f" ({summary.work_items_skipped} already stored), {summary.passed} passed,"
        f" {summary.model_calls} model calls ({summary.model_errors} failed),"
        f" ${summary.cost_usd:.4f} list price, {summary.elapsed_s:.1f}s"
    )
    typer.echo(
        f"sandbox: {summary.sandbox_executions} programs run,"
        f" {summary.verdicts_cached} verdicts from the cache"
    )
    if not summary.chunks_failed:  # a finished run: its chunk files become one per table
        from tasks.storage.compact import compact_run

        compacted = compact_run(config.store, config.run_id)
        typer.echo(f"store: {compacted.files_before} chunk files compacted to {compacted.files_after}")
    typer.echo(f"results: {config.store}  (query with `patflow report --store {config.store}`)")
    params = {"reference_generator": reference_generator} if reference_generator else None
    for dataset, table in comparison_by_benchmark(config.store, config.run_id, params):
        render(table, output_format, title=f"policy_comparison — {dataset} — run {config.run_id}")
    if summary.chunks_failed:
        fail(f"{summary.chunks_failed} chunk(s) failed; run the same command again to resume", code=1)


def _estimate(config, sample: int | None, estimate_store: Path | None, output_format: str) -> None:
    import dataclasses

    import pyarrow as pa

    from flows.commands.report import render
    from tasks.estimate import estimate
    from tasks.models import model_pricing

    typer.echo(
        f"estimating run {config.run_id} (config {config.config_sha256()[:12]}) on the simulator"
        f"{f', {sample} problems per benchmark' if sample else ''}; no request goes to a real endpoint",
        err=True,
    )
    with user_errors():
        projections = estimate(config, sample, str(estimate_store.resolve()) if estimate_store else None)
    rows = [dataclasses.asdict(p) for p in projections]
    title = (
        f"projected cost of run {config.run_id} (USD at the real models' prices;"
        " range: 5th-95th percentile over a bootstrap of the problems run)"
    )
    if output_format != "table":
        if rows:  # the same TOTAL line as the table, in the rows' own columns
            numeric = ("calls", "input_tokens", "output_tokens", "usd", "usd_low", "usd_high")
            total = {key: None for key in rows[0]} | {key: sum(r[key] for r in rows) for key in numeric}
            rows = rows + [total | {"benchmark": "TOTAL", "policy": "", "configuration": ""}]
        render(pa.Table.from_pylist(rows), output_format, title=title)
        return
    shown = [
        {
            "benchmark": r["benchmark"], "policy": r["policy"], "configuration": r["configuration"],
            "problems": f"{r['problems_run']}/{r['problems']}", "calls": round(r["calls"]),
            "tokens_in": round(r["input_tokens"]), "tokens_out": round(r["output_tokens"]),
            "usd": round(r["usd"], 4), "usd_range": f"{r['usd_low']:.4f}-{r['usd_high']:.4f}",
        }
        for r in rows
    ]  # fmt: skip
    if shown:
        shown.append({
            "benchmark": "TOTAL", "policy": "", "configuration": "", "problems": "",
            "calls": sum(row["calls"] for row in shown), "tokens_in": sum(row["tokens_in"] for row in shown),
            "tokens_out": sum(row["tokens_out"] for row in shown), "usd": round(sum(r["usd"] for r in rows), 4),
            "usd_range": f"{sum(r['usd_low'] for r in rows):.4f}-{sum(r['usd_high'] for r in rows):.4f}",
        })  # fmt: skip
    render(pa.Table.from_pylist(shown), "table", title=title)
    for model in config.model_configs():
        pricing = model_pricing(model)
        typer.echo(
            f"  {model.model}: ${pricing.input_usd_per_mtok:g} in / ${pricing.output_usd_per_mtok:g} out"
            f" per million tokens ({pricing.source}), simulated as sim/{dict(config.estimate_skills).get(model.model, '?')}"
        )
