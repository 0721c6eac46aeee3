"""The sweep: a Prefect flow that fans chunks of work items out over Dask workers.

One Prefect task is one chunk (never one problem: a task costs ~100 ms of orchestration here).
The flow loads the benchmark, checks the run manifest, skips work items already committed to
the store (resume is an anti-join on the work-item key), submits the rest, shows progress as
chunks finish, and returns a summary. Each chunk writes its own Parquet files, so a crash or an
interrupted sweep loses only the chunks in flight; running the same command again resumes.

Dask: a ``LocalCluster`` of worker processes by default, or an existing cluster by address.
"""

from __future__ import annotations

from flows import environment  # noqa: F401  (must precede prefect's import)

import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect_dask import DaskTaskRunner
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.cluster import cluster_threads
from tasks.policies.driver import GenerationSettings, RoleModels
from tasks.records import ModelConfig, RunConfig
from tasks.sweep import ChunkSpec, ChunkSummary, chunk_work_items, plan_work_items, run_chunk


@dataclass(frozen=True)
class SweepSummary:
    run_id: str
    store: str
    work_items_total: int
    work_items_skipped: int  # already committed by an earlier, interrupted run
    work_items_run: int
    passed: int
    model_calls: int
    model_errors: int
    cost_usd: float
    chunks_failed: int
    elapsed_s: float
    sandbox_executions: int = 0
    verdicts_cached: int = 0


def make_task_runner(dask_address: str | None = None, workers: int | None = None) -> DaskTaskRunner:
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers or max(os.cpu_count() or 1, 1),
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        },
    )


# One retry: a chunk commits its results only at its end, so running it again is safe.
class RunConflict(ValueError):
    pass


def default_run_id(benchmark_name: str) -> str:
    """``<benchmark>-<time>`` with only the characters a run id may hold (``humaneval+`` -> ``humaneval_``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(benchmark_name).name.removesuffix(".gz"))
    return f"{stem}-{time.strftime('%Y%m%dT%H%M%S')}"


def policy_models(policies, api_base: str | None, entries: dict | None = None, **defaults) -> tuple[ModelConfig, ...]:
    """Configurations for the models that policies name in their parameters (generator=, planner=)."""
    from tasks.model_config import model_config
    from tasks.records import MODEL_PARAMS

    named = sorted({str(spec.param(role, "")) for spec in policies for role in MODEL_PARAMS} - {""})
    return tuple(model_config(model, entries or {}, api_base=api_base, **defaults) for model in named)


def claim_run(config: RunConfig, overwrite: bool = False) -> None:
    """Write the run's manifest. The same config again resumes; a different one under the same
    run id is refused unless ``overwrite``, which first deletes the earlier run's files."""
    from tasks.storage import read_manifest, remove_run, write_manifest

    existing = read_manifest(config.store, config.run_id)
    if existing is not None:
        if overwrite:
            remove_run(config.store, config.run_id)
        elif existing.get("config_sha256") != config.config_sha256():
            raise RunConflict(
                f"run '{config.run_id}' in {config.store} was started with a different configuration;"
                " use another --run-id, or --overwrite to replace it"
            )
    write_manifest(config.store, config, {})


@task(name="run-chunk", cache_policy=NO_CACHE, persist_result=False, retries=1)
def run_chunk_task(chunk: ChunkSpec) -> ChunkSummary:
    return run_chunk(chunk)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("items · {task.fields[passed]} passed · ${task.fields[cost]:.4f}"),
        TimeElapsedColumn(),
        console=None,
        transient=False,
        disable=not sys.stderr.isatty() and os.environ.get("PATFLOW_PROGRESS") != "1",
    )


@flow(name="patflow-sweep", persist_result=False, log_prints=True, task_runner=make_task_runner())
def sweep(config: RunConfig, verify_concurrency: int | None = None) -> SweepSummary:
    """Run every (problem, policy, seed) of ``config`` not already in the store."""
    from tasks.benchmarks import load_benchmark
    from tasks.storage import completed_work_item_specs, remove_uncommitted

    started = time.monotonic()
    benchmark = load_benchmark(config.benchmark, config.data_dir)
    problems = benchmark.problems[: config.limit] if config.limit else benchmark.problems
    remove_uncommitted(config.store, config.run_id)  # leftovers of chunks that died uncommitted
    done = completed_work_item_specs(config.store, config.run_id)
    models = RoleModels(config.generator, config.planner)
    items = plan_work_items(
        problems, config.policies, config.seeds, models, done, config.extra_models
    )
    total = len(problems) * len(config.policies) * config.seeds
    chunks = chunk_work_items(
        config.run_id,
        config.store,
        problems,
        items,
        config.chunk_size,
        settings=GenerationSettings(
            temperature=float(config.extra.get("temperature", 0.2)),
            max_tokens=int(config.extra.get("max_tokens", 1024)),
        ),
        cache_dir=config.extra.get("cache_dir"),
        verify_concurrency=verify_concurrency,
        limit_share=cluster_threads(),  # model limits hold for the whole sweep, not per worker
    )
    futures = [run_chunk_task.submit(chunk) for chunk in chunks]
    future_sizes = {future.task_run_id: len(chunk.items) for future, chunk in zip(futures, chunks)}
    summaries: list[ChunkSummary] = []
    failed_chunks = 0
    with _progress() as progress:
        bar = progress.add_task(
            f"{config.run_id}", total=total, completed=total - len(items), passed=0, cost=0.0
        )
        for future in as_completed(futures):
            try:
                summary = future.result()
            except Exception as error:  # a chunk that crashed is reported; resume re-runs it
                failed_chunks += 1
                print(f"chunk failed and will be re-run on resume: {type(error).__name__}: {error}")
                progress.advance(bar, future_sizes[future.task_run_id])
                continue
            summaries.append(summary)
            progress.update(
                bar,
                advance=summary.items,
                passed=sum(s.passed for s in summaries),
                cost=sum(s.cost_usd for s in summaries),
            )
    return SweepSummary(
        run_id=config.run_id,
        store=config.store,
        work_items_total=total,
        work_items_skipped=total - len(items),
        work_items_run=sum(s.items for s in summaries),
        passed=sum(s.passed for s in summaries),
        model_calls=sum(s.model_calls for s in summaries),
        model_errors=sum(s.model_errors for s in summaries),
        cost_usd=sum(s.cost_usd for s in summaries),
        chunks_failed=failed_chunks,
        elapsed_s=time.monotonic() - started,
        sandbox_executions=sum(s.sandbox_executions for s in summaries),
        verdicts_cached=sum(s.verdicts_cached for s in summaries),
    )


@flow(name="patflow-scheduled-sweep", persist_result=False, log_prints=True)
def scheduled_sweep(
    benchmark: str = "humaneval",
    policies: list[str] = ["standard", "pat"],  # noqa: B006 - Prefect parameters are JSON
    generator: str = "sim/small",
    planner: str = "sim/large",
    api_base: str | None = None,
    seeds: int = 1,
    limit: int | None = None,
    store: str = "data/runs",
    run_id: str | None = None,
    chunk_size: int = 16,
    dask_address: str | None = None,
    overwrite: bool = False,
) -> SweepSummary:
    """Deployment entry point: plain JSON parameters, a dated run id by default."""
    from tasks.policies import parse_policy_spec

    specs = tuple(parse_policy_spec(p) for p in policies)
    config = RunConfig(
        run_id=run_id or default_run_id(benchmark),
        benchmark=benchmark,
        policies=specs,
        generator=ModelConfig(generator, api_base=api_base),
        planner=ModelConfig(planner, api_base=api_base),
        extra_models=policy_models(specs, api_base),
        seeds=seeds,
        limit=limit,
        store=str(Path(store).resolve()),
        chunk_size=chunk_size,
    )
    claim_run(config, overwrite)
    from flows.cluster import shared_prefect_api

    with shared_prefect_api():
        return sweep.with_options(task_runner=make_task_runner(dask_address))(config)

