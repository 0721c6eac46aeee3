"""The automatic chunk size: derived from the pending item count and the cluster's threads; an
explicit ``concurrency.chunk_size`` wins; chunking never enters the config hash."""

from __future__ import annotations

import dataclasses
import math
import textwrap

import pytest

from tasks.sweep import MAX_CHUNK_ITEMS, automatic_chunk_size, guided_sizes, plan_chunks
from tasks.sweep_config import load_sweep_config


@pytest.mark.parametrize(
    "items, threads, item_concurrency, expected",
    [
        (20_000, 2, 32, 256),  # capped: crash and progress granularity
        (164, 2, 32, 32),  # at least one chunk's worth of items in flight
        (40, 2, 32, 20),  # ...but every thread gets a chunk
        (5_000, 8, 32, 157),  # four chunks per thread: ceil(5000 / 32)
        (3, 4, 32, 1),
        (1, 1, 32, 1),
        (0, 2, 32, 1),
    ],
)
def test_the_rule_gives(items, threads, item_concurrency, expected):
    assert automatic_chunk_size(items, threads, item_concurrency) == expected


@pytest.mark.parametrize("items", [1, 7, 40, 164, 999, 5_000, 20_000, 100_000])
@pytest.mark.parametrize("threads", [1, 2, 3, 8, 64])
def test_every_thread_gets_a_chunk_and_orchestration_stays_bounded(items, threads):
    size = automatic_chunk_size(items, threads, 32)
    chunks = math.ceil(items / size)
    assert 1 <= size <= MAX_CHUNK_ITEMS
    assert chunks >= min(items, threads)  # no thread idles for want of a chunk
    # Never more chunks than four per thread or one per 32 items, unless the size cap demands it.
    assert chunks <= max(4 * threads, math.ceil(items / 32), math.ceil(items / MAX_CHUNK_ITEMS)) + threads


def _config(tmp_path, chunking: str):
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        run_id: chunks
        store: {tmp_path / "runs"}
        cache_dir: null
        benchmarks: [{{name: humaneval, limit: 20}}]
        configurations: [{{name: s, generator: sim/small, planner: sim/large}}]
        policies: [standard, pat]
        seeds: 2
        {chunking}
    """))
    return load_sweep_config(path)


def test_a_sweep_without_chunk_size_is_chunked_by_the_rule_and_an_explicit_one_wins(tmp_path):
    automatic = _config(tmp_path, "")
    assert automatic.chunk_size is None
    chunks, total = plan_chunks(automatic, cluster_threads=2)
    assert total == 20 * 2 * 2
    expected = automatic_chunk_size(total, 2, automatic.item_concurrency)
    assert [len(c.items) for c in chunks] == [expected] * (total // expected) + (
        [total % expected] if total % expected else []
    )
    assert all(c.limit_share == 2 for c in chunks)

    explicit = _config(tmp_path, "concurrency: {chunk_size: 7}")
    chunks, _ = plan_chunks(explicit, cluster_threads=2)
    assert {len(c.items) for c in chunks[:-1]} == {7} and len(chunks) == math.ceil(total / 7)
    # The same sweep however it is chunked: one config hash, so a resume may re-chunk.
    assert explicit.config_sha256() == automatic.config_sha256()
    assert dataclasses.replace(automatic, chunk_size=256).config_sha256() == automatic.config_sha256()


def test_the_last_chunks_shrink_so_no_thread_waits_long_for_another():
    # 2,000 items in two benchmarks (656 + 1,344) on 2 threads at 250 per chunk: full chunks
    # while more than 4 x 250 remain, then each chunk a quarter of what remains (floor 32).
    plan = guided_sizes([656, 1344], 250, 2, 32)
    assert plan == [[250, 250, 156], [250, 250, 211, 159, 119, 89, 67, 50, 38, 32, 32, 32, 15]]
    for counts, size, threads in (([20_000], 256, 2), ([7, 5_000, 3], 64, 8), ([1], 1, 1)):
        sizes = [s for group in guided_sizes(counts, size, threads, 32) for s in group]
        assert sum(sizes) == sum(counts) and max(sizes) <= size
        assert sizes[-1] <= max(32, size // 2) or len(sizes) == 1
