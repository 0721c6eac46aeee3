"""ModelClient against a real loopback ``patflow sim serve``: faults, retries, limits, no key leaks.

Every test checks the books both ways: each answer equals what the in-process simulator gives
for the same request (nothing lost, nothing mixed up), and the client's attempt count equals
the requests the server saw (no silent or extra tries).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest
from model_fixtures import SimServerProcess, free_port

from tasks import prompts
from tasks.models import ModelClient, ResponseCache, sim
from tasks.records import ModelConfig, ModelRequest

pytestmark = pytest.mark.integration


def config_for(server, **overrides) -> ModelConfig:
    settings = {"max_retries": 6, "timeout_s": 10.0, "max_concurrency": 16, **overrides}
    return ModelConfig("openai/sim-small", api_base=server.api_base, **settings)


def requests_for(problems, count: int, seed: int = 0) -> list[ModelRequest]:
    return [
        ModelRequest(prompts.generate_messages(p.prompt, p.entry_point), seed=seed)
        for p in problems[:count]
    ]


def expected(request: ModelRequest) -> sim.SimResponse:
    return sim.respond("small", request.messages, seed=request.seed, max_tokens=request.max_tokens)


def run_all(client, config, requests):
    async def gather():
        try:
            return await asyncio.gather(*(client.complete(config, r) for r in requests))
        finally:
            await client.aclose()

    return asyncio.run(gather())


def assert_exact_answers(results, requests):
    for result, request in zip(results, requests):
        assert result.error is None, result.error
        want = expected(request)
        assert (result.text, result.input_tokens, result.output_tokens) == (
            want.text, want.input_tokens, want.output_tokens,
        )  # fmt: skip


@pytest.fixture(autouse=True)
def same_knowledge_as_the_server():
    # The server was started without --benchmark, so both simulators see unknown problems and
    # answer with (seed-dependent) stubs; the comparison is still exact, byte for byte.
    sim.clear_problems()


@pytest.fixture(scope="module")
def server(sim_server, humaneval):
    # the first HTTP call through litellm builds its client (~1 s); keep that out of timed tests
    run_all(ModelClient(cache=None), config_for(sim_server), [ModelRequest((("user", "warm up"),))])
    return sim_server


def test_429_storm_honours_retry_after(server, humaneval, monkeypatch):
    real_sleep = asyncio.sleep
    delays: list[float] = []

    async def recording_sleep(delay, *args, **kwargs):  # still sleeps: only records the ask
        delays.append(delay)
        return await real_sleep(delay, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    server.faults(error_kind="429", fail_first=6, retry_after_s=1)
    requests = requests_for(humaneval, 4)
    results = run_all(ModelClient(cache=None), config_for(server, max_retries=8), requests)
    assert_exact_answers(results, requests)
    stats = server.stats()
    assert stats["by_status"] == {"429": 6, "200": 4}
    assert sum(r.attempts for r in results) == stats["requests"] == 10
    # each 429 was followed by a wait of exactly its Retry-After (the base backoff is zero here)
    assert delays.count(1.0) == 6, delays


def test_intermittent_500s_are_retried_and_nothing_is_double_counted(server, humaneval):
    server.faults(error_kind="500", error_rate=0.3, fault_seed=11)
    requests = requests_for(humaneval, 30)
    results = run_all(ModelClient(cache=None), config_for(server, max_retries=10), requests)
    assert_exact_answers(results, requests)
    stats = server.stats()
    assert stats["by_status"]["200"] == 30 and stats["by_status"]["500"] > 0
    assert sum(r.attempts for r in results) == stats["requests"]
    assert sum(r.output_tokens for r in results) == stats["output_tokens"]
    assert any(r.attempts > 1 for r in results)


def test_slow_answers_past_the_timeout_fail_as_data_after_the_configured_retries(server, humaneval):
    server.faults(error_kind="slow", error_rate=1.0, slow_ms=3000)
    [result] = run_all(
        ModelClient(cache=None), config_for(server, timeout_s=0.3, max_retries=2), requests_for(humaneval, 1)
    )
    assert result.error.startswith("timeout: no answer within 0.3 s") and result.text == ""
    assert result.attempts == 3 == server.stats()["requests"]  # the first try and two retries, each sent


def test_some_slow_answers_are_retried_to_success(server, humaneval):
    server.faults(error_kind="slow", error_rate=0.4, slow_ms=3000, fault_seed=5)
    requests = requests_for(humaneval, 10)
    results = run_all(ModelClient(cache=None), config_for(server, timeout_s=0.5, max_retries=8), requests)
    assert_exact_answers(results, requests)
    assert any(r.attempts > 1 for r in results)


def test_malformed_json_is_retried_then_reported(server, humaneval):
    server.faults(error_kind="malformed", fail_first=2)
    requests = requests_for(humaneval, 1)
    [result] = run_all(ModelClient(cache=None), config_for(server), requests)
    assert_exact_answers([result], requests)
    assert result.attempts == 3

    server.faults(error_kind="malformed", error_rate=1.0)
    [result] = run_all(ModelClient(cache=None), config_for(server, max_retries=3), requests)
    assert result.error and result.attempts == 4 and server.stats()["requests"] == 4


def test_dropped_connections_are_retried(server, humaneval):
    server.faults(error_kind="disconnect", fail_first=3)
    requests = requests_for(humaneval, 2)
    results = run_all(ModelClient(cache=None), config_for(server), requests)
    assert_exact_answers(results, requests)
    assert sum(r.attempts for r in results) == 5


def test_connection_refused_is_a_connection_error_after_retries(humaneval):
    config = ModelConfig("openai/sim-small", api_base=f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    [result] = run_all(ModelClient(cache=None), config, requests_for(humaneval, 1))
    assert result.error.startswith("connection:") and result.attempts == 3


def test_concurrency_limit_holds_at_the_server(server, humaneval):
    server.faults(latency_ms=100)
    requests = requests_for(humaneval, 20)
    results = run_all(ModelClient(cache=None), config_for(server, max_concurrency=4), requests)
    assert_exact_answers(results, requests)
    assert server.stats()["max_in_flight"] == 4


def test_request_rate_limit_is_never_exceeded(server, humaneval):
    server.faults(rate_limit_per_s=10)  # the server answers 429 above 10/s
    requests = requests_for(humaneval, 25)
    config = config_for(server, requests_per_minute=600)
    results = run_all(ModelClient(cache=None), config, requests)
    assert_exact_answers(results, requests)
    stats = server.stats()
    assert stats["max_requests_in_1s"] <= 10 and "429" not in stats["by_status"]
    assert all(r.attempts == 1 for r in results)


def test_server_killed_mid_run_then_restarted_loses_nothing(tmp_path, humaneval, monkeypatch):
    from tasks.models import client as client_module

    # backoff 0.2 s doubling, capped at 1 s: retries keep probing through the ~2 s outage
    monkeypatch.setattr(client_module.RETRY, "max_delay_s", 1.0)
    port = free_port()
    server = SimServerProcess(port, tmp_path / "server.log", "--latency-ms", "100").start()
    requests = requests_for(humaneval, 40, seed=3)
    cache = ResponseCache(tmp_path / "cache")
    client = ModelClient(cache=cache, retry_base_delay_s=0.2)
    config = config_for(server, max_concurrency=8, max_retries=12)

    async def chaos():
        calls = asyncio.gather(*(client.complete(config, r) for r in requests))
        await asyncio.sleep(0.35)
        server.kill()  # requests in flight lose their connection; the rest find nothing there
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.start)
        return await calls

    try:
        results = asyncio.run(chaos())
    finally:
        server.kill()
    assert_exact_answers(results, requests)
    assert any(r.attempts > 1 for r in results)
    assert cache.stats().entries == 40
    again = run_all(ModelClient(cache=cache), config, requests)  # the server is gone now
    assert all(r.cached and r.attempts == 0 and r.cost_usd == 0 for r in again)
    assert [r.text for r in again] == [r.text for r in results]


def test_api_key_never_reaches_any_written_file(tmp_path, server, humaneval, monkeypatch):
    secret = f"sk-patflow-leak-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("PATFLOW_LEAK_TEST_KEY", secret)
    server.faults(error_kind="500", error_rate=0.5, fault_seed=3)
    cache_dir = tmp_path / "cache"
    client = ModelClient(cache=ResponseCache(cache_dir))
    http = config_for(server, api_key_env="PATFLOW_LEAK_TEST_KEY", max_retries=1)
    local = ModelConfig("sim/large", api_key_env="PATFLOW_LEAK_TEST_KEY")
    requests = requests_for(humaneval, 12)
    results = run_all(client, http, requests) + run_all(client, local, requests)
    results += run_all(client, http, requests)  # cache hits
    assert any(r.error for r in results) and any(r.cached for r in results)
    assert all(secret not in (r.text + (r.error or "")) for r in results)
    client.cache.close()
    written = [p for p in [*tmp_path.rglob("*"), *Path(server.log_path).parent.rglob("*")] if p.is_file()]
    assert any(p.name.startswith("responses.sqlite3") for p in written)
    leaked = [str(p) for p in written if secret.encode() in p.read_bytes()]
    assert not leaked
    assert os.environ["PATFLOW_LEAK_TEST_KEY"] == secret  # the key was really there to leak


def test_sim_serve_with_a_benchmark_answers_like_the_in_process_simulator(tmp_path):
    from tasks.benchmarks import load_benchmark

    problems = load_benchmark("humaneval").problems[:6]
    server = SimServerProcess(free_port(), tmp_path / "server.log", "--benchmark", "humaneval").start()
    try:
        sim.register_problems(problems)
        requests = requests_for(problems, 6, seed=2)
        config = ModelConfig("openai/sim-large", api_base=server.api_base)
        results = run_all(ModelClient(cache=None), config, requests)
    finally:
        server.kill()
    for result, request, problem in zip(results, requests, problems):
        want = sim.respond("large", request.messages, seed=2, max_tokens=request.max_tokens)
        assert result.text == want.text and result.output_tokens == want.output_tokens
    # a known problem: the large model mostly answers with the reference solution itself
    references = sum(prompts.extract_code(r.text).strip() == p.reference_solution.strip()
                     for r, p in zip(results, problems))  # fmt: skip
    assert references >= 3


def test_aclose_closes_the_sessions_litellm_opened_in_the_loop(server, humaneval):
    import litellm

    server.faults()
    client = ModelClient(cache=None)

    async def calls_then_close():
        suffix = f"-{id(asyncio.get_running_loop())}"
        results = await asyncio.gather(
            *(client.complete(config_for(server), r) for r in requests_for(humaneval, 3))
        )
        opened = [k for k in litellm.in_memory_llm_clients_cache.cache_dict if k.endswith(suffix)]
        await client.aclose()
        still = [k for k in litellm.in_memory_llm_clients_cache.cache_dict if k.endswith(suffix)]
        return results, opened, still

    results, opened, still = asyncio.run(calls_then_close())
    assert all(r.error is None for r in results)
    assert opened and not still


# --------------------------------------------------------------------------- CPU turns
def test_turns_are_given_back_after_answers_timeouts_and_refused_connections(server, humaneval):
    from tasks.models import limits as limits_module
    from tasks.models import loop_http as loop_http_module

    server.faults(error_kind="slow", error_rate=0.5, slow_ms=2000, fault_seed=3)
    client = ModelClient(cache=None)
    refused = ModelConfig("openai/sim-small", api_base=f"http://127.0.0.1:{free_port()}/v1",
                          max_retries=1, timeout_s=5.0)  # fmt: skip

    async def calls() -> tuple:
        good = config_for(server, timeout_s=0.4, max_retries=0)
        results = await asyncio.gather(
            *(client.complete(good, r) for r in requests_for(humaneval, 12)),
            client.complete(refused, ModelRequest((("user", "nobody listens"),))),
        )
        http = loop_http_module.loop_http()
        state = (http.turn.lock.locked(), client._state().limits[limits_module.limits_key(good)])
        await client.aclose()
        return results, state, http.session.closed

    results, (turn_held, limits), session_closed = asyncio.run(calls())
    kinds = {(r.error or "ok").split(":")[0] for r in results}
    assert kinds == {"ok", "timeout", "connection"}, kinds  # all three paths were exercised
    assert not turn_held  # no path kept the turn
    assert limits.uses_http_session  # the HTTP hooks saw these calls
    assert session_closed  # aclose closed the shared session


def test_a_turn_held_elsewhere_delays_a_call_but_never_blocks_it(server, humaneval, monkeypatch):
    from tasks.models import loop_http as loop_http_module

    monkeypatch.setattr(loop_http_module.CpuTurn, "WAIT_LIMIT_S", 0.3)
    server.faults()
    client = ModelClient(cache=None)
    config = config_for(server)
    original_take = loop_http_module.CallTurn.take
    takes: list[bool] = []  # per take of the second call: did it get the turn?

    async def call_while_the_turn_is_held() -> object:
        await client.complete(config, ModelRequest((("user", "first, hooks seen"),)))
        turn = loop_http_module.loop_http().turn
        await turn.lock.acquire()  # e.g. a call stuck on a lock inside litellm, never giving it up

        async def recorded_take(call):
            await original_take(call)
            takes.append(call.held)

        monkeypatch.setattr(loop_http_module.CallTurn, "take", recorded_take)
        result = await client.complete(config, ModelRequest((("user", "second"),)))
        assert turn.lock.locked()  # still held by its owner: the call never took it from them
        turn.lock.release()
        await client.aclose()
        return result

    result = asyncio.run(call_while_the_turn_is_held())
    assert result.error is None, result.error
    # it waited for the turn twice (before the call, when the answer came), got neither time,
    # and went ahead each time
    assert takes == [False, False], takes
    assert server.stats()["requests"] >= 2


def test_each_http_call_takes_the_turn_before_sending_and_when_its_answer_arrives(server, humaneval):
    """The aiohttp hooks fire for litellm's requests: 2 turns per call, none kept afterwards."""
    from tasks.models import loop_http as loop_http_module

    server.faults(latency_ms=300)
    client = ModelClient(cache=None)
    config = config_for(server, max_concurrency=8)
    finished: list[int] = []

    async def one(index: int, request: ModelRequest) -> None:
        result = await client.complete(config, request)
        assert result.error is None, result.error
        finished.append(index)

    async def calls() -> list[float]:
        await client.complete(config, ModelRequest((("user", "warm, hooks seen"),)))
        gaps = []
        turn = loop_http_module.loop_http().turn
        original_take = loop_http_module.CallTurn.take

        async def timed_take(call):
            await original_take(call)
            if call.held:
                gaps.append(time.monotonic())

        loop_http_module.CallTurn.take = timed_take
        try:
            await asyncio.gather(*(one(i, r) for i, r in enumerate(requests_for(humaneval, 8))))
        finally:
            loop_http_module.CallTurn.take = original_take
        assert not turn.lock.locked()
        await client.aclose()
        return gaps

    turns = asyncio.run(calls())
    assert sorted(finished) == list(range(8))
    # each call took the turn before it started and again when its answer came
    assert len(turns) == 16, len(turns)


def test_a_slot_is_held_only_while_a_request_is_out_and_its_wait_is_not_timed(server, humaneval):
    """max_concurrency counts requests at the provider: a call's slot is free again when its
    answer's headers arrive, so the next request leaves while litellm still works on the answer
    (made slow here: 400 ms after each answer), and a call waiting for a slot spends neither its
    timeout nor its latency on the wait."""
    from tasks.models import loop_http as loop_http_module

    server.faults(latency_ms=300)
    client = ModelClient(cache=None)
    config = config_for(server, max_concurrency=1, timeout_s=1.2, max_retries=0)

    async def calls() -> tuple[list, float]:
        await client.complete(config, ModelRequest((("user", "warm, hooks seen"),)))
        original_take = loop_http_module.CallTurn.take

        async def slow_work_on_the_answer(call):
            await original_take(call)
            if call.saw_http:  # the response-headers hook
                await asyncio.sleep(0.4)

        loop_http_module.CallTurn.take = slow_work_on_the_answer
        started = time.monotonic()
        try:
            results = await asyncio.gather(*(client.complete(config, r) for r in requests_for(humaneval, 4)))
        finally:
            loop_http_module.CallTurn.take = original_take
        elapsed = time.monotonic() - started
        await client.aclose()
        return results, elapsed

    results, elapsed = asyncio.run(calls())
    # the last call waited ~0.9 s for its slot and then took ~0.75 s: over its 1.2 s timeout
    assert [r.error for r in results] == [None] * 4
    assert server.stats()["max_in_flight"] == 1
    # 4 x 300 ms at the server back to back, then the last answer's 400 ms (~1.6 s); a slot
    # held through litellm's work would take 4 x 700 ms
    assert elapsed < 2.3, elapsed
    assert max(r.latency_ms for r in results) < 1300  # each call's own time, not the queue's
