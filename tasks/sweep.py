"""A sweep's unit of work: one chunk of (problem, policy, seed) work items, run and stored.

Plain Python, no Prefect or Dask: ``flows/sweep.py`` ships ``ChunkSpec``s to Dask workers as
Prefect tasks and each worker calls ``run_chunk``. Inside a chunk the work items run
concurrently on one asyncio loop (model calls overlap; sandbox runs are bounded by
``verify_concurrency``); the chunk's results are written as one atomic set of Parquet files, so
a crash loses at most the chunks in flight and resume re-runs exactly those.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Collection, Iterable, Sequence

from sandbox.types import Limits
from tasks.policies.driver import GenerationSettings, RoleModels, run_work_item
from tasks.records import (
    BenchmarkSelection,
    ModelConfig,
    PolicySpec,
    Problem,
    RunConfig,
    SandboxSettings,
    WorkItemResult,
)


@dataclass(frozen=True)
class WorkItem:
    dataset: str  # DatasetInfo.name of the item's benchmark
    task_id: str
    policy: PolicySpec
    seed: int
    models: RoleModels
    configuration: str = ""  # the model configuration's name (display only)

    @property
    def key(self) -> tuple[str, str, str, str, str, int]:
        """The resume key, as ``completed_work_item_keys`` reads it from the store: the spec, not
        the name, so policy variants never collide; benchmark and models, so neither do two
        benchmarks sharing task ids or two model configurations."""
        return (
            self.dataset, self.models.generator.model, self.models.planner.model,
            self.task_id, self.policy.to_json(), self.seed,
        )  # fmt: skip


@dataclass(frozen=True)
class ChunkSpec:
    run_id: str
    store: str
    problems: tuple[Problem, ...]  # the problems this chunk's items refer to (one benchmark)
    items: tuple[WorkItem, ...]
    settings: GenerationSettings = GenerationSettings()
    item_concurrency: int = 32
    verify_concurrency: int | None = None  # default: the worker's CPU count
    cache_dir: str | None = None
    limits: Limits = Limits()  # sandbox limits of every verification
    # The benchmark's import preamble setting ("standard" | "none"), for verification to apply.
    imports: str = "none"  # tasks/preamble.py
    name: str = ""  # shown as the Prefect task run's name


@dataclass(frozen=True)
class ChunkSummary:
    items: int
    passed: int
    model_calls: int
    model_errors: int
    cost_usd: float


def plan_work_items(
    benchmark: BenchmarkSelection,
    problems: Sequence[Problem],
    config: RunConfig,
    done: Collection[tuple] = frozenset(),
) -> list[WorkItem]:
    """Every (problem, policy variant, model configuration, seed) of one benchmark not already
    committed, in a stable order."""
    dataset = benchmark.dataset.name if benchmark.dataset else benchmark.name
    cells = [
        (variant.spec, config.configuration(name))
        for variant in config.policies
        for name in variant.configurations
    ]
    items = []
    for problem in problems:
        for spec, configuration in cells:
            models = RoleModels(configuration.generator, configuration.planner)
            for seed in range(config.seeds):
                item = WorkItem(dataset, problem.task_id, spec, seed, models, configuration.name)
                if item.key not in done:
                    items.append(item)
    return items


def count_work_items(config: RunConfig) -> int:
    """How many work items the whole sweep holds."""
    cells = sum(len(variant.configurations) for variant in config.policies)
    return sum(b.problems_selected for b in config.benchmarks) * cells * config.seeds


def sandbox_limits(settings: SandboxSettings) -> Limits:
    return Limits(
        timeout_s=settings.default_timeout_s,
        memory_mb=settings.memory_mb,
        max_processes=settings.max_processes,
        file_size_mb=settings.file_size_mb,
        open_files=settings.open_files,
        output_bytes=settings.output_bytes,
    )


def chunk_work_items(
    run_id: str,
    store: str,
    problems: Sequence[Problem],
    items: Sequence[WorkItem],
    chunk_size: int,
    **chunk_options,
) -> list[ChunkSpec]:
    """Consecutive runs of ``chunk_size`` items of ONE benchmark (task ids may repeat across
    benchmarks, so a chunk's problems are looked up by task id within one benchmark)."""
    by_id = {problem.task_id: problem for problem in problems}
    prefix = chunk_options.pop("name", "chunk")
    chunks = []
    for start in range(0, len(items), chunk_size):
        chunk_items = tuple(items[start : start + chunk_size])
        needed = dict.fromkeys(item.task_id for item in chunk_items)
        chunks.append(
            ChunkSpec(
                run_id=run_id,
                store=store,
                problems=tuple(by_id[task_id] for task_id in needed),
                items=chunk_items,
                name=f"{prefix}-{start // chunk_size}",
                **chunk_options,
            )
        )
    return chunks


def plan_chunks(config: RunConfig, verify_concurrency: int | None = None) -> tuple[list[ChunkSpec], int]:
    """The chunks still to run (every benchmark's pending work items, resume being an anti-join
    on ``WorkItem.key`` against the store) and the sweep's total number of work items."""
    from tasks.benchmarks import load_benchmark
    from tasks.storage import completed_work_item_keys
    from tasks.sweep_config import select_problems

    done = completed_work_item_keys(config.store, config.run_id)
    chunks: list[ChunkSpec] = []
    for selection in config.benchmarks:
        benchmark = load_benchmark(selection.name, config.data_dir, public_tests=selection.public_tests)
        problems = select_problems(selection, benchmark.problems)
        items = plan_work_items(selection, problems, config, done)
        chunks += chunk_work_items(
            config.run_id,
            config.store,
            problems,
            items,
            config.chunk_size,
            settings=GenerationSettings(temperature=config.temperature, max_tokens=config.max_tokens),
            cache_dir=config.cache_dir,
            item_concurrency=config.item_concurrency,
            verify_concurrency=config.verify_concurrency or verify_concurrency,
            limits=sandbox_limits(config.sandbox),
            imports=selection.imports,
            name=re.sub(r"[^A-Za-z0-9._-]", "_", benchmark.info.name),
        )
    return chunks, count_work_items(config)


_clients: dict[str | None, object] = {}


def _model_client(cache_dir: str | None):
    """One model client per worker process and cache directory, so concurrency limits and the
    cache are shared by the chunks of a run (a long-lived cluster may serve several runs)."""
    from tasks.models import ModelClient, ResponseCache

    if cache_dir not in _clients:
        _clients[cache_dir] = ModelClient(cache=ResponseCache(cache_dir)) if cache_dir else ModelClient()
    return _clients[cache_dir]


def _price_of(config: ModelConfig, input_tokens: int, output_tokens: int):
    from tasks.models import cost_usd, model_pricing

    pricing = model_pricing(config)
    return cost_usd(pricing, input_tokens, output_tokens), pricing.cost_weight


def _register_with_simulator(problems: Iterable[Problem], items: Iterable[WorkItem]) -> None:
    models = {config.model for item in items for config in (item.models.generator, item.models.planner)}
    if any(model.startswith("sim/") for model in models):
        from tasks.models.sim import register_problems

        register_problems(problems)


async def run_chunk_items(chunk: ChunkSpec, client, verifier, price_of, executor=None) -> list[WorkItemResult]:
    by_id = {problem.task_id: problem for problem in chunk.problems}
    item_slots = asyncio.Semaphore(chunk.item_concurrency)
    verify_slots = asyncio.Semaphore(chunk.verify_concurrency or os.cpu_count() or 2)

    async def run_one(item: WorkItem) -> WorkItemResult:
        async with item_slots:
            return await run_work_item(
                run_id=chunk.run_id,
                problem=by_id[item.task_id],
                spec=item.policy,
                seed=item.seed,
                models=item.models,
                client=client,
                verifier=verifier,
                price_of=price_of,
                settings=chunk.settings,
                verify_slots=verify_slots,
                executor=executor,
            )

    try:
        return list(await asyncio.gather(*(run_one(item) for item in chunk.items)))
    finally:
        closer = getattr(client, "aclose", None)
        if closer is not None:  # the model client's HTTP sessions belong to this loop
            await closer()


def run_chunk(chunk: ChunkSpec) -> ChunkSummary:
    """Run every work item of the chunk and commit the results to the store."""
    from tasks.storage import write_chunk
    from tasks.verification import run_calls, verify

    def verifier(program, tests, time_limits_s):
        return verify(program, tests, time_limits_s=time_limits_s, limits=chunk.limits, imports=chunk.imports)

    def executor(program, tests):
        return run_calls(program, tests, limits=chunk.limits, imports=chunk.imports)

    _register_with_simulator(chunk.problems, chunk.items)
    client = _model_client(chunk.cache_dir)
    results = asyncio.run(run_chunk_items(chunk, client, verifier, _price_of, executor))
    write_chunk(chunk.store, results)
    return summarize(results)


def summarize(results: Sequence[WorkItemResult]) -> ChunkSummary:
    return ChunkSummary(
        items=len(results),
        passed=sum(r.outcome.passed for r in results),
        model_calls=sum(len(r.calls) for r in results),
        model_errors=sum(1 for r in results for c in r.calls if c.error),
        cost_usd=sum(c.cost_usd for r in results for c in r.calls),
    )
