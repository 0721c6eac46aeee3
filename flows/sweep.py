"""The sweep: a Prefect flow that fans chunks of work items out over Dask workers.

One flow run is one ``RunConfig``: every benchmark x policy variant x model configuration x seed.
One Prefect task is one chunk of work items of one benchmark (never one problem: a task costs
~100 ms of orchestration here), named ``<benchmark>-<n>`` so the UI shows each chunk's state.
The flow skips work items already committed to the store (resume is an anti-join on the
work-item key), submits the rest, shows a live bar (items done/total, pass rate, cost, rate,
ETA), and ends with the comparison per benchmark as a Markdown artifact. Each chunk writes its
own Parquet files, so a crash loses only the chunks in flight; the same command resumes.

Dask: a ``LocalCluster`` of worker processes by default, or an existing cluster by address.
"""

from __future__ import annotations

from flows import environment  # noqa: F401  (must precede prefect's import)

import dataclasses
import os
import queue
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect_dask import DaskTaskRunner
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from flows.cluster import cluster_shape
from tasks.records import RunConfig
from tasks.sweep import ChunkSpec, ChunkSummary, count_work_items, plan_chunks, run_chunk


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


# Chunks one local worker runs at once. The second is not for parallelism (the sandbox runs
# and model calls of a process are bounded per process anyway): it starts while the first
# drains its last items, writes its files and reports to Prefect, so the worker's share of the
# model limits and its sandbox slots never idle between chunks. Both run on the process's one
# event loop (``tasks.process_loop``).
CHUNKS_PER_LOCAL_WORKER = 2


# Dask's statistical profiler samples every worker thread each 10 ms and keeps one call tree per
# second for the last 1,000 s: memory that grows through a worker's first quarter hour and CPU
# on every sample, for a dashboard that local sweeps do not start (BENCHMARKS.md, "Worker
# memory"). A cluster the user brings keeps its own setting.
LOCAL_WORKER_DASK_CONFIG = {"distributed": {"worker": {"profile": {"enabled": False}}}}


def local_cluster_kwargs(workers: int | None = None) -> dict:
    """``distributed.LocalCluster`` arguments for a sweep on this machine."""
    import dask.config

    return {
        "n_workers": workers or max(os.cpu_count() or 1, 1),
        "threads_per_worker": CHUNKS_PER_LOCAL_WORKER,
        "processes": True,
        "dashboard_address": None,
        # handed by each Nanny to its worker process (a shallow merge there: the whole tree)
        "config": dask.config.merge(dask.config.config, LOCAL_WORKER_DASK_CONFIG),
    }


def make_task_runner(dask_address: str | None = None, workers: int | None = None) -> DaskTaskRunner:
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs=local_cluster_kwargs(workers))  # fmt: skip


class RunConflict(ValueError):
    pass


def claim_run(config: RunConfig, overwrite: bool = False, extra: dict | None = None) -> None:
    """Write the run's manifest. The same config again resumes; a different one under the same
    run id is refused unless ``overwrite``, which first deletes the earlier run's files.
    ``extra`` adds keys to the manifest's ``extra`` (a scheduled run's schedule key)."""
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
    datasets = [dataclasses.asdict(b.dataset) for b in config.benchmarks if b.dataset]
    manifest_extra = {**(extra or {}), "work_items_total": count_work_items(config), "datasets": datasets}
    if len(datasets) == 1:
        manifest_extra["dataset"] = datasets[0]
    write_manifest(config.store, config, manifest_extra)


# One retry: a chunk commits its results only at its end, so running it again is safe.
@task(name="run-chunk", cache_policy=NO_CACHE, persist_result=False, retries=1)
def run_chunk_task(chunk: ChunkSpec) -> ChunkSummary:
    return run_chunk(chunk)


def chunks_in_flight(threads: int) -> int:
    """How many chunks the flow keeps submitted at once: two per worker thread, so every thread
    has its next chunk queued on its worker when one ends."""
    return 2 * max(1, threads)


def submit_in_window(chunks: Sequence[ChunkSpec], in_flight: int) -> Iterator[tuple[ChunkSpec, PrefectFuture]]:
    """Submit ``chunks`` in order, at most ``in_flight`` unfinished at a time, and yield each
    (chunk, future) as it finishes; the next chunk is submitted once the caller has taken one.

    Why a window and not every chunk at once: Dask keeps a task's arguments and result on its
    worker for as long as the client holds its future, so a flow holding every future until
    the end kept every finished chunk's work items in its worker (11,543 ``WorkItem`` objects
    in one worker after a 20,000-item sweep). A future
    the caller has dropped is released, and its worker forgets the task."""
    finished: queue.SimpleQueue = queue.SimpleQueue()
    upcoming = iter(chunks)

    def submit_next() -> bool:
        chunk = next(upcoming, None)
        if chunk is None:
            return False
        future = run_chunk_task.with_options(task_run_name=chunk.name).submit(chunk)
        future.add_done_callback(lambda done, chunk=chunk: finished.put((chunk, done)))
        return True

    unfinished = sum(submit_next() for _ in range(max(1, in_flight)))
    while unfinished:
        chunk, future = finished.get()
        unfinished -= 1
        yield chunk, future
        del future  # the caller has its result: nothing here keeps the task alive
        unfinished += submit_next()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("items · {task.fields[pass_rate]} passed · ${task.fields[cost]:.4f} ·"),
        TextColumn("{task.fields[rate]} items/s ·"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=None,
        transient=False,
        disable=not sys.stderr.isatty() and os.environ.get("PATFLOW_PROGRESS") != "1",
    )


@flow(name="patflow-sweep", persist_result=False, log_prints=True, task_runner=make_task_runner())
def sweep(config: RunConfig, verify_concurrency: int | None = None) -> SweepSummary:
    """Run every (benchmark, problem, policy variant, model configuration, seed) of ``config``
    not already in the store; publish the comparison as a Markdown artifact."""
    from tasks.storage import remove_uncommitted

    started = time.monotonic()
    remove_uncommitted(config.store, config.run_id)  # leftovers of chunks that died uncommitted
    # Model limits hold for the whole sweep: each worker process gets its share of them; the
    # cluster's threads (chunks at once) size the chunks unless the config sets chunk_size.
    shape = cluster_shape()
    threads = shape.threads
    chunks, total = plan_chunks(config, verify_concurrency, cluster_threads=threads, cluster_workers=shape.workers)
    pending = sum(len(chunk.items) for chunk in chunks)
    summaries: list[ChunkSummary] = []
    failed_chunks = 0
    with _progress() as progress:
        bar = progress.add_task(
            config.run_id, total=total, completed=total - pending, pass_rate="-", cost=0.0, rate="-"
        )
        for chunk, future in submit_in_window(chunks, chunks_in_flight(threads)):
            try:
                summary = future.result()
            except Exception as error:  # a chunk that crashed is reported; resume re-runs it
                failed_chunks += 1
                print(f"chunk failed and will be re-run on resume: {type(error).__name__}: {error}")
                progress.advance(bar, len(chunk.items))
                continue
            summaries.append(summary)
            items_done = sum(s.items for s in summaries)
            progress.update(
                bar,
                advance=summary.items,
                pass_rate=f"{sum(s.passed for s in summaries) / items_done:.0%}" if items_done else "-",
                cost=sum(s.cost_usd for s in summaries),
                rate=f"{items_done / max(time.monotonic() - started, 1e-9):.2f}",
            )
    publish_comparison_artifact(config)
    return SweepSummary(
        run_id=config.run_id,
        store=config.store,
        work_items_total=total,
        work_items_skipped=total - pending,
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


# --------------------------------------------------------------------------- the comparison
COMPARISON_COLUMNS = (
    "policy", "generator_model", "planner_model", "problems", "work_items", "pass_at_1",
    "mean_cost_usd", "planner_invocation_rate", "cost_relative_to_reference",
    "weighted_cost_relative_to_reference",
)


def comparison_by_benchmark(store: str, run_id: str, params: dict | None = None):
    """[(dataset name, policy_comparison rows of that benchmark)] for one run."""
    import pyarrow.compute as pc

    from tasks.analysis.named import run_named
    from tasks.storage import connect

    con = connect(store, [run_id])
    try:
        table = run_named(con, "policy_comparison", params or {})
    finally:
        con.close()
    datasets = sorted(set(table.column("dataset_name").to_pylist()))
    return [(dataset, table.filter(pc.equal(table["dataset_name"], dataset))) for dataset in datasets]


def comparison_markdown(store: str, run_id: str, params: dict | None = None) -> str:
    lines = [f"# patflow run `{run_id}`", ""]
    for dataset, table in comparison_by_benchmark(store, run_id, params):
        columns = [c for c in COMPARISON_COLUMNS if c in table.column_names]
        lines += [f"## {dataset}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in table.select(columns).to_pylist():
            lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def publish_comparison_artifact(config: RunConfig) -> None:
    key = re.sub(r"[^a-z0-9-]", "-", f"comparison-{config.run_id}".lower())[:100]
    create_markdown_artifact(
        key=key,
        markdown=comparison_markdown(config.store, config.run_id),
        description=f"patflow comparison of run {config.run_id} (config {config.config_sha256()[:12]})",
    )


@flow(name="patflow-scheduled-sweep", persist_result=False, log_prints=True)
def scheduled_sweep(
    config: str = "data/sweeps/nightly.yaml",
    store: str | None = None,
    run_id: str | None = None,
    dask_address: str | None = None,
) -> SweepSummary:
    """Deployment entry point: run the sweep config file ``config`` (relative to the worker's
    directory) under a run id of its own, ``<file stem>-<scheduled time>Z`` unless ``run_id``;
    then compare it with the previous complete run of the same config in the store
    (``queries/run_diff.sql``) and publish that as a Markdown artifact ``run-diff-<file stem>``.
    ``store`` and ``dask_address`` override the file's."""
    from prefect.runtime import flow_run

    from flows.cluster import shared_prefect_api
    from tasks.scheduled import compare_with_previous_run, free_run_id, schedule_extra, scheduled_run_id
    from tasks.sweep_config import ResolveOptions, load_sweep_config

    flow_run_id = flow_run.get_id()
    provisional_run_id = run_id or scheduled_run_id(config, flow_run.get_scheduled_start_time())
    options = ResolveOptions(store=store, run_id=provisional_run_id, dask_address=dask_address)
    run_config = load_sweep_config(Path(config), options)
    if run_id is None:
        run_config = dataclasses.replace(run_config, run_id=free_run_id(run_config.store, provisional_run_id, flow_run_id))
    claim_run(run_config, extra=schedule_extra(run_config, flow_run_id))
    # Sandbox runs per local worker as `patflow run` sets them: two per core, shared by the workers.
    local_workers = None if run_config.dask_address else (run_config.workers or os.cpu_count() or 1)
    verify_concurrency = max(2, 2 * (os.cpu_count() or 1) // local_workers) if local_workers else None
    with shared_prefect_api():
        task_runner = make_task_runner(run_config.dask_address, run_config.workers)
        summary = sweep.with_options(task_runner=task_runner)(run_config, verify_concurrency=verify_concurrency)
    if not summary.chunks_failed:  # a finished run: its chunk files become one per table, as `patflow run` does
        from tasks.storage.compact import compact_run

        compact_run(run_config.store, run_config.run_id)
    comparison = compare_with_previous_run(run_config.store, run_config.run_id)
    create_markdown_artifact(
        key=re.sub(r"[^a-z0-9-]", "-", f"run-diff-{Path(config).stem}".lower())[:100],
        markdown=comparison.markdown,
        description=comparison.line,
    )
    print(comparison.line)
    return summary
