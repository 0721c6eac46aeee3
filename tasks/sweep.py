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
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Iterable, Sequence

from sandbox.types import Limits
from tasks.process_loop import close_at_exit, run_in_process_loop
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

if TYPE_CHECKING:
    from tasks.storage import ChunkParquet
    from tasks.verdict_cache import CachedVerifier


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
    # How many worker processes share the model limits (the chunks of a process share one event
    # loop, so one share, ``tasks.process_loop``): each chunk gets that share of every model's
    # max_concurrency / requests_per_minute / tokens_per_minute, so the limits a user wrote hold
    # for the whole sweep, not per worker.
    limit_share: int = 1


@dataclass(frozen=True)
class ChunkSummary:
    items: int
    passed: int
    model_calls: int
    model_errors: int
    cost_usd: float
    sandbox_executions: int = 0  # programs actually run (verdict-cache misses)
    verdicts_cached: int = 0  # verifications answered from the verdict cache


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
    chunk_size: int | Sequence[int],
    **chunk_options,
) -> list[ChunkSpec]:
    """Consecutive runs of items of ONE benchmark (task ids may repeat across benchmarks, so a
    chunk's problems are looked up by task id within one benchmark): ``chunk_size`` items each,
    or the sizes listed (``guided_sizes``), in order."""
    by_id = {problem.task_id: problem for problem in problems}
    prefix = chunk_options.pop("name", "chunk")
    if isinstance(chunk_size, int):
        sizes = [chunk_size] * -(-len(items) // chunk_size)
    else:
        sizes = list(chunk_size)
        if sum(sizes) != len(items):
            raise ValueError(f"chunk sizes add up to {sum(sizes)} for {len(items)} items")
    chunks, start = [], 0
    for index, size in enumerate(sizes):
        chunk_items = tuple(items[start : start + size])
        start += size
        needed = dict.fromkeys(item.task_id for item in chunk_items)
        chunks.append(
            ChunkSpec(
                run_id=run_id,
                store=store,
                problems=tuple(by_id[task_id] for task_id in needed),
                items=chunk_items,
                name=f"{prefix}-{index}",
                **chunk_options,
            )
        )
    return chunks


def guided_sizes(counts: Sequence[int], size: int, cluster_threads: int, floor: int) -> list[list[int]]:
    """Chunk sizes for consecutive groups of ``counts`` items (one group per benchmark): ``size``
    while plenty remains, then shrinking with what remains across all groups — each chunk at
    most 1/(2 x threads) of it, never below ``floor`` (a chunk's items in flight) — so the last
    chunks are small and no thread idles long while another finishes a big one."""
    remaining = sum(counts)
    plan = []
    for count in counts:
        sizes, left = [], count
        while left > 0:
            share = -(-remaining // (2 * max(1, cluster_threads)))
            chunk = min(left, size, max(floor, share))
            sizes.append(chunk)
            left -= chunk
            remaining -= chunk
        plan.append(sizes)
    return plan


# The automatic chunk size (``automatic_chunk_size``).
CHUNKS_PER_THREAD = 4  # the last chunks leave threads idle for at most ~1/4 of their share
MAX_CHUNK_ITEMS = 256  # a crash loses, and the progress bar jumps by, at most this many items


def automatic_chunk_size(pending_items: int, cluster_threads: int, item_concurrency: int) -> int:
    """Work items per chunk (one Prefect task) when the user set no ``chunk_size``.

    A Prefect task costs ~100 ms of orchestration here, so a chunk should hold many items; a
    chunk also runs only its own items at once, and a crash or a retry costs a whole chunk.
    The rule, in order:

    1. ``ceil(pending / (CHUNKS_PER_THREAD * threads))``: every worker thread gets about four
       chunks, so the threads finish close together and the bar moves a few times per thread;
    2. at least ``item_concurrency`` items, so a chunk can keep as many items (and their model
       calls) in flight as it is allowed to;
    3. at most ``pending // threads``, so every thread gets a chunk (rule 2 yields to this);
    4. at most ``MAX_CHUNK_ITEMS`` (256): crash and progress granularity.

    E.g. 20,000 items on 2 threads: 256 per chunk, 79 chunks (~8 s of orchestration, not the
    2 minutes of 1,250 chunks of 16); 164 items on 2 threads: 32 per chunk, 6 chunks; 40 items
    on 2 threads: 20 per chunk. This is the size while plenty remains: ``plan_chunks`` shrinks
    the last chunks (``guided_sizes``). Chunking never changes results: ``RunConfig.config_sha256``
    leaves ``chunk_size`` out, and resume is an anti-join on work-item keys, so a resume may
    chunk its remaining items differently.
    """
    if pending_items <= 0:
        return 1
    threads = max(1, cluster_threads)
    size = -(-pending_items // (CHUNKS_PER_THREAD * threads))
    size = max(size, item_concurrency)
    size = min(size, max(1, pending_items // threads))
    return max(1, min(size, MAX_CHUNK_ITEMS))


def plan_chunks(
    config: RunConfig,
    verify_concurrency: int | None = None,
    cluster_threads: int = 1,
    cluster_workers: int | None = None,
) -> tuple[list[ChunkSpec], int]:
    """The chunks still to run (every benchmark's pending work items, resume being an anti-join
    on ``WorkItem.key`` against the store) and the sweep's total number of work items.

    ``cluster_threads`` is how many chunks can run at once, which sizes the chunks when
    ``config.chunk_size`` is None (``automatic_chunk_size`` of all benchmarks' pending items
    together). ``cluster_workers`` is how many worker processes share every model's limits
    (``ChunkSpec.limit_share``): the chunks of one process share its event loop, and so its
    share of the limits (``tasks.process_loop``); None means one thread per worker."""
    from tasks.benchmarks import load_benchmark
    from tasks.storage import completed_work_item_keys
    from tasks.sweep_config import select_problems

    done = completed_work_item_keys(config.store, config.run_id)
    pending: list[tuple[BenchmarkSelection, object, Sequence[Problem], list[WorkItem]]] = []
    for selection in config.benchmarks:
        benchmark = load_benchmark(selection.name, config.data_dir, public_tests=selection.public_tests)
        problems = select_problems(selection, benchmark.problems)
        pending.append((selection, benchmark, problems, plan_work_items(selection, problems, config, done)))
    counts = [len(items) for *_, items in pending]
    if config.chunk_size:
        plan = [config.chunk_size] * len(pending)
    else:
        size = automatic_chunk_size(sum(counts), cluster_threads, config.item_concurrency)
        plan = guided_sizes(counts, size, cluster_threads, min(size, config.item_concurrency))
    chunks: list[ChunkSpec] = []
    for (selection, benchmark, problems, items), sizes in zip(pending, plan):
        chunks += chunk_work_items(
            config.run_id,
            config.store,
            problems,
            items,
            sizes,
            settings=GenerationSettings(temperature=config.temperature, max_tokens=config.max_tokens),
            cache_dir=config.cache_dir,
            item_concurrency=config.item_concurrency,
            verify_concurrency=config.verify_concurrency or verify_concurrency,
            limits=sandbox_limits(config.sandbox),
            imports=selection.imports,
            name=re.sub(r"[^A-Za-z0-9._-]", "_", benchmark.info.name),
            limit_share=cluster_workers or cluster_threads,
        )
    return chunks, count_work_items(config)


_clients: dict[str | None, object] = {}
_process_state_lock = threading.Lock()


def _model_client(cache_dir: str | None):
    """One model client per worker process and cache directory, so concurrency limits and the
    cache are shared by the chunks of a run (a long-lived cluster may serve several runs)."""
    from tasks.models import ModelClient, ResponseCache

    with _process_state_lock:  # two chunks starting at once must not make two clients (two limits)
        if cache_dir not in _clients:
            client = ModelClient(cache=ResponseCache(cache_dir)) if cache_dir else ModelClient()
            close_at_exit(client.aclose)  # its HTTP sessions live on the process loop
            _clients[cache_dir] = client
        return _clients[cache_dir]


_verdict_caches: dict[str | None, object] = {}


@dataclass(frozen=True)
class ChunkSandbox:
    """How a chunk's items reach the sandbox: every verdict and call run under the chunk's limits
    and imports, through this process's verdict cache (``cached`` counts executions and hits);
    the ``known_*`` lookups answer what the cache already holds, without a sandbox slot."""

    cached: CachedVerifier
    limits: Limits
    imports: str

    def verify(self, program, tests, time_limits_s):
        return self.cached(program, tests, time_limits_s, limits=self.limits, imports=self.imports)

    def execute(self, program, tests, stop_at_timeout=False):
        return self.cached.run_calls(
            program, tests, limits=self.limits, imports=self.imports, stop_at_timeout=stop_at_timeout
        )

    def known_verdict(self, program, tests, time_limits_s):
        return self.cached.lookup(program, tests, time_limits_s, limits=self.limits, imports=self.imports)

    def known_calls(self, program, tests, stop_at_timeout):
        return self.cached.lookup_calls(
            program, tests, limits=self.limits, imports=self.imports, stop_at_timeout=stop_at_timeout
        )


def chunk_sandbox(chunk: ChunkSpec) -> ChunkSandbox:
    return ChunkSandbox(_verifier(chunk.cache_dir), chunk.limits, chunk.imports)


def _verifier(cache_dir: str | None):
    """A verifier with its own counters (one per chunk: chunks of a process overlap) over this
    process's verdict cache for ``cache_dir``; with a cache directory, verdicts are remembered
    (``tasks.verdict_cache``), so an identical rerun executes nothing."""
    from tasks.verdict_cache import CachedVerifier, VerdictCache
    from tasks.verification import verify

    with _process_state_lock:
        if cache_dir not in _verdict_caches:
            _verdict_caches[cache_dir] = VerdictCache(cache_dir) if cache_dir else _NoVerdictCache()
    return CachedVerifier(_verdict_caches[cache_dir], verify)


class _NoVerdictCache:
    def get(self, key):
        return None

    def put(self, key, verdict):
        pass

    def get_calls(self, key):
        return None

    def put_calls(self, key, statuses, values):
        pass


def _price_of(config: ModelConfig, input_tokens: int, output_tokens: int):
    from tasks.models import cost_usd, model_pricing

    pricing = model_pricing(config)
    return cost_usd(pricing, input_tokens, output_tokens), pricing.cost_weight


def _register_with_simulator(problems: Iterable[Problem], items: Iterable[WorkItem]) -> None:
    models = {config.model for item in items for config in (item.models.generator, item.models.planner)}
    if any(model.startswith("sim/") for model in models):
        from tasks.models.sim import register_problems

        register_problems(problems)


# Sandbox runs at once, per event loop: the chunks of a process share its loop
# (``tasks.process_loop``), and ``verify_concurrency`` is a per-worker figure.
_verify_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _loop_verify_slots(concurrency: int) -> asyncio.Semaphore:
    by_size = _verify_slots.setdefault(asyncio.get_running_loop(), {})
    if concurrency not in by_size:
        by_size[concurrency] = asyncio.Semaphore(concurrency)
    return by_size[concurrency]


async def each_chunk_item(
    chunk: ChunkSpec, client, verifier, price_of, executor=None, *, on_result, close_client: bool = True,
    verdict_lookup=None, calls_lookup=None,
) -> None:
    """Run every work item of ``chunk``, ``item_concurrency`` at a time, and hand each result
    to ``on_result(index, result)`` (on the loop, in the order items finish) as soon as its item
    finishes, keeping none. ``close_client``: close the model client's HTTP sessions in this
    loop at the end (for a loop that ends with it); ``verdict_lookup``, ``calls_lookup``: known
    verdicts and call runs, answered without a sandbox slot
    (``tasks.policies.driver.VerdictLookup``, ``CallsLookup``)."""
    by_id = {problem.task_id: problem for problem in chunk.problems}
    item_slots = asyncio.Semaphore(chunk.item_concurrency)
    verify_slots = _loop_verify_slots(chunk.verify_concurrency or os.cpu_count() or 2)

    async def run_one(index: int, item: WorkItem) -> None:
        async with item_slots:
            on_result(index, await run_work_item(
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
                verdict_lookup=verdict_lookup,
                calls_lookup=calls_lookup,
            ))  # fmt: skip

    try:
        await asyncio.gather(*(run_one(index, item) for index, item in enumerate(chunk.items)))
    finally:
        closer = getattr(client, "aclose", None)
        if close_client and closer is not None:  # the model client's HTTP sessions belong to this loop
            await closer()


async def run_chunk_items(
    chunk: ChunkSpec, client, verifier, price_of, executor=None, **options
) -> list[WorkItemResult]:
    """``each_chunk_item``'s results, in the chunk's item order."""
    results: list = [None] * len(chunk.items)

    def keep(index: int, result: WorkItemResult) -> None:
        results[index] = result

    await each_chunk_item(chunk, client, verifier, price_of, executor, on_result=keep, **options)
    return results


# Where this worker process's chunk time went (read by benchmarks/sweep_bench.py): per chunk,
# epoch seconds (start, policy work done, written) and the resident MB at its end. Chunks of
# one process overlap, so shares of wall time come from merging these spans.
PROCESS_TIMINGS: dict[str, list] = {"spans": []}


def _resident_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def share_limits(config: ModelConfig, share: int) -> ModelConfig:
    """``config`` with its rate and concurrency limits divided by ``share`` (at least 1 call in
    flight; rates stay positive): the limits of one of ``share`` worker processes.

    Concurrency sums exactly (``share`` x ``c // share`` <= c). Rates are spaced per process
    (``tasks.models.limits.RequestSpacing``, 1.1 x 60/rpm x share s apart, the first request
    of every process at once), so across the processes a window of W s sees at most
    ``share * (floor(W * rate / (1.1 * share)) + 1)`` requests: within rpm per 60 s when
    rpm >= 11 x share, and within rpm/60 per 1 s when that bound allows (2 workers at 6/s:
    3 + 3; the slow test in tests/scale/test_model_limits.py counts them at the server)."""
    from dataclasses import replace

    if share <= 1:
        return config
    return replace(
        config,
        max_concurrency=max(1, config.max_concurrency // share),
        requests_per_minute=None if config.requests_per_minute is None else config.requests_per_minute / share,
        tokens_per_minute=None if config.tokens_per_minute is None else config.tokens_per_minute / share,
    )


def _shared_items(chunk: ChunkSpec) -> ChunkSpec:
    if chunk.limit_share <= 1:
        return chunk
    from dataclasses import replace

    items = tuple(
        replace(
            item,
            models=RoleModels(
                share_limits(item.models.generator, chunk.limit_share),
                share_limits(item.models.planner, chunk.limit_share),
            ),
        )
        for item in chunk.items
    )
    return replace(chunk, items=items)


def _result_keys(chunk: ChunkSpec) -> list[tuple]:
    """The ``work_item_key`` each item's result will carry (``run_work_item`` names the
    problem's dataset and the models' names), known before any item runs."""
    dataset_of = {problem.task_id: problem.dataset.name for problem in chunk.problems}
    return [(chunk.run_id, dataset_of[item.task_id], *item.key[1:]) for item in chunk.items]


def run_chunk(chunk: ChunkSpec) -> ChunkSummary:
    """Run every work item of the chunk and commit the results to the store."""
    import time

    from tasks.storage import ChunkParquet, write_chunk_parquet

    chunk = _shared_items(chunk)
    sandbox = chunk_sandbox(chunk)
    _register_with_simulator(chunk.problems, chunk.items)
    client = _model_client(chunk.cache_dir)
    # Each result is encoded into the chunk's files as its item finishes; none is kept whole.
    finished = ChunkParquet(_result_keys(chunk))
    started = time.time()
    run_in_process_loop(
        each_chunk_item(chunk, client, sandbox.verify, _price_of, sandbox.execute, close_client=False,
                        on_result=lambda _, result: finished.add(result),
                        verdict_lookup=sandbox.known_verdict, calls_lookup=sandbox.known_calls)  # fmt: skip
    )
    policy_done = time.time()
    write_chunk_parquet(chunk.store, finished)
    PROCESS_TIMINGS["spans"].append((started, policy_done, time.time(), _resident_mb()))  # list.append is atomic
    return summarize(finished, sandbox.cached.executions, sandbox.cached.hits)


def summarize(encoded: ChunkParquet, sandbox_executions: int = 0, verdicts_cached: int = 0) -> ChunkSummary:
    """A chunk's counts from what it encoded."""
    return ChunkSummary(
        items=encoded.rows["outcomes"],
        passed=encoded.passed,
        model_calls=encoded.rows["calls"],
        model_errors=encoded.model_errors,
        cost_usd=encoded.cost_usd,
        sandbox_executions=sandbox_executions,
        verdicts_cached=verdicts_cached,
    )
