"""``patflow run``: a sweep of policies over a benchmark, then the comparison table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from flows.commands.errors import fail, user_errors

DEFAULT_POLICIES = ["standard", "pat"]


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    benchmark: str = typer.Option(
        "humaneval", envvar="PATFLOW_BENCHMARK", help="Built-in benchmark name or path to a JSONL file."
    ),
    policy: Optional[list[str]] = typer.Option(
        None,
        "--policy",
        help="Policy to run, repeatable: standard, pat, pbt; parameters as pat:max_plans=2; "
        "a policy may name its own models: standard:generator=sim/large (the large-model "
        "baseline). Default: standard and pat.",
    ),
    generator: str = typer.Option(
        "sim/small", envvar="PATFLOW_GENERATOR", help="litellm model string of the generator."
    ),
    planner: str = typer.Option(
        "sim/large", envvar="PATFLOW_PLANNER", help="litellm model string of the planner."
    ),
    api_base: Optional[str] = typer.Option(
        None, envvar="PATFLOW_API_BASE", help="Base URL of an OpenAI-compatible server (vLLM, Ollama, sim serve)."
    ),
    api_key_env: Optional[str] = typer.Option(
        None, help="Name of the environment variable that holds the API key (never the key itself)."
    ),
    max_concurrency: int = typer.Option(16, help="Concurrent requests per model and worker."),
    models_config: Optional[Path] = typer.Option(
        None,
        envvar="PATFLOW_MODELS_CONFIG",
        help="TOML file of model entries (api_base, api_key_env, limits, prices, cost_weight); "
        "entries win over the options above.",
    ),
    seeds: int = typer.Option(1, min=1, help="Samples per problem and policy (seeds 0..N-1)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N problems."),
    store: Path = typer.Option(Path("data/runs"), envvar="PATFLOW_STORE", help="Run store directory."),
    run_id: Optional[str] = typer.Option(
        None, help="Name of this run; default: benchmark and time. Re-use it to resume."
    ),
    overwrite: bool = typer.Option(False, help="Delete an existing run of this id first."),
    chunk_size: int = typer.Option(16, min=1, help="Work items per Prefect task."),
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
    temperature: float = typer.Option(0.2, help="Sampling temperature of every model call."),
    max_tokens: int = typer.Option(1024, help="Completion token limit of every model call."),
    output_format: str = typer.Option("table", "--format", help="Comparison output: table, csv or json."),
    reference_generator: Optional[str] = typer.Option(
        None,
        help="Show costs relative to `standard` on this generator (e.g. sim/large with "
        "--policy standard:generator=sim/large: the paper's PaT-vs-large-model view). "
        "Default: relative to `standard` on each row's own generator.",
    ),
) -> None:
    """Run policies over a benchmark on Dask through Prefect, store Parquet, print the comparison."""
    from flows.cluster import shared_prefect_api
    from flows.commands.report import print_report
    from flows.sweep import claim_run, make_task_runner, sweep

    with user_errors():
        config = _build_config(**locals())
        if dask_address:  # what a remote worker needs, checked before anything is written
            from flows.cluster import check_cluster

            check_cluster(dask_address, config.benchmark, config.data_dir,
                          config.extra.get("cache_dir"), config.store)  # fmt: skip
        claim_run(config, overwrite)

    # Sandbox runs per worker: a local cluster's workers share this machine's cores. Each worker
    # taking all of them oversubscribes the CPU cores-squared times and turns load into false
    # timeouts; two per core is what the demo measured fastest (a run is partly fork/IO wait).
    local_workers = None if dask_address else (workers or os.cpu_count() or 1)
    verify_concurrency = max(2, 2 * (os.cpu_count() or 1) // local_workers) if local_workers else None
    with shared_prefect_api():  # the flow and every worker report to one API
        summary = sweep.with_options(task_runner=make_task_runner(dask_address, workers))(
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
    print_report(config.store, [config.run_id], params=params, fmt=output_format)
    if summary.chunks_failed:
        fail(f"{summary.chunks_failed} chunk(s) failed; run the same command again to resume", code=1)


def _build_config(**options):
    from flows.sweep import default_run_id, policy_models
    from tasks.benchmarks import load_benchmark
    from tasks.models.providers import validate_model_name
    from tasks.policies import parse_policy_spec
    from tasks.model_config import load_model_entries
    from tasks.model_config import model_config as configured_model
    from tasks.records import ModelConfig, RunConfig

    if options["output_format"] not in ("table", "csv", "json"):
        fail(f"unknown --format '{options['output_format']}' (expected table, csv or json)")
    policies = tuple(parse_policy_spec(text) for text in (options["policy"] or DEFAULT_POLICIES))
    entries = load_model_entries(options["models_config"]) if options["models_config"] else {}
    defaults = {"api_key_env": options["api_key_env"], "max_concurrency": options["max_concurrency"]}
    extra_models = policy_models(policies, options["api_base"], entries, **defaults)
    for model in (options["generator"], options["planner"], *(c.model for c in extra_models)):
        validate_model_name(model)
    data_dir = str(options["data_dir"].expanduser().resolve()) if options["data_dir"] else None
    benchmark = load_benchmark(options["benchmark"], data_dir)  # fail before Prefect starts
    benchmark_name = options["benchmark"]
    if Path(benchmark_name).suffix in (".jsonl", ".json", ".gz"):
        benchmark_name = str(Path(benchmark_name).expanduser().resolve())

    def model_config(model: str) -> ModelConfig:
        return configured_model(model, entries, api_base=options["api_base"], **defaults)

    cache_dir = options["cache_dir"] or Path("data/cache")
    info = benchmark.info
    config = RunConfig(
        run_id=options["run_id"] or default_run_id(benchmark.info.name),
        benchmark=benchmark_name,
        policies=policies,
        generator=model_config(options["generator"]),
        planner=model_config(options["planner"]),
        seeds=options["seeds"],
        limit=options["limit"],
        store=str(options["store"].resolve()),
        chunk_size=options["chunk_size"],
        data_dir=data_dir,
        extra_models=extra_models,
        extra={
            "temperature": options["temperature"],
            "max_tokens": options["max_tokens"],
            "cache_dir": str(cache_dir.resolve()),
            "dataset": {"name": info.name, "version": info.version, "sha256": info.content_sha256},
        },
    )
    return config

