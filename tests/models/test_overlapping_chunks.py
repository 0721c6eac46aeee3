"""Two chunks that one worker process runs at once (a local worker has two threads) share the
process's event loop, so the model limits the sweep gave that process hold for both together,
and each chunk still counts only its own sandbox runs. Real parts: ``tasks.sweep.run_chunk``
from two threads, litellm's HTTP path to a ``patflow sim serve`` process, real sandboxes."""

from __future__ import annotations

import threading

import pytest
from model_fixtures import SimServerProcess, free_port

from tasks.policies.driver import RoleModels
from tasks.records import ModelConfig, PolicySpec
from tasks.sweep import PROCESS_TIMINGS, ChunkSpec, WorkItem, run_chunk

LIMIT = 2  # the process's share of max_concurrency


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("overlap") / "server.log"
    process = SimServerProcess(free_port(), log, "--benchmark", "humaneval").start()
    yield process
    process.kill()


def _chunk(name: str, problems, server, store, cache_dir) -> ChunkSpec:
    model = ModelConfig("openai/sim-small", api_base=server.api_base, max_concurrency=LIMIT)
    # one seed per problem and no problem in both chunks: no program is verified twice, so
    # a chunk's sandbox runs do not depend on which chunk reached the verdict cache first
    items = tuple(WorkItem(p.dataset.name, p.task_id, PolicySpec("standard"), 0, RoleModels(model, model)) for p in problems)
    return ChunkSpec(name, str(store), tuple(problems), items, cache_dir=str(cache_dir), verify_concurrency=2)


def _run_at_once(chunks: list[ChunkSpec]) -> list:
    summaries: list = [None] * len(chunks)
    start = threading.Barrier(len(chunks))

    def run(index: int) -> None:
        start.wait()
        summaries[index] = run_chunk(chunks[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(chunks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return summaries


def test_two_chunks_of_one_process_share_its_limits_and_count_their_own_runs(server, humaneval, tmp_path):
    first, second = humaneval[:8], humaneval[8:16]
    alone = run_chunk(_chunk("alone", first, server, tmp_path / "alone", tmp_path / "cache-alone"))
    assert alone.items == 8 and alone.sandbox_executions > 0 and alone.verdicts_cached == 0

    server.faults(latency_ms=150)  # a call outlasts the other chunk's start: they overlap
    spans_before = len(PROCESS_TIMINGS["spans"])
    chunks = [_chunk(name, problems, server, tmp_path / name, tmp_path / "cache-shared")
              for name, problems in (("first", first), ("second", second))]  # fmt: skip
    summaries = _run_at_once(chunks)
    stats = server.stats()

    assert [s.items for s in summaries] == [8, 8]
    (a_start, a_policy_done, *_), (b_start, b_policy_done, *_) = PROCESS_TIMINGS["spans"][spans_before:]
    assert a_start < b_policy_done and b_start < a_policy_done  # the two ran at the same time
    # Both chunks' calls went through one limit: on loops of their own they held 2 x LIMIT.
    assert stats["requests"] == 16 and stats["max_in_flight"] == LIMIT
    # Each chunk's counters are its own: the first ran what it ran alone, beside the second.
    assert (summaries[0].sandbox_executions, summaries[0].verdicts_cached) == (alone.sandbox_executions, 0)
    assert summaries[1].sandbox_executions > 0 and summaries[1].verdicts_cached == 0
