"""ModelClient in-process through litellm's custom provider: cache, cost, limits, errors as data."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3

import pytest
from model_fixtures import write_cache_entries

from tasks import prompts
from tasks.models import ModelClient, ResponseCache, cost_usd, model_pricing, sim
from tasks.models.pricing import sim_model_name
from tasks.records import ModelConfig, ModelRequest

SMALL = ModelConfig("sim/small")
LARGE = ModelConfig("sim/large")


@pytest.fixture(autouse=True)
def registered(humaneval):
    sim.register_problems(humaneval)


def generate_request(problem, seed=0, sample_index=0) -> ModelRequest:
    return ModelRequest(
        prompts.generate_messages(problem.prompt, problem.entry_point),
        seed=seed,
        sample_index=sample_index,
    )


def test_litellm_reaches_the_simulator_in_process():
    import litellm

    from tasks.models import sim_provider  # noqa: F401

    async def call():
        return await litellm.acompletion(
            model="sim/small", messages=[{"role": "user", "content": "def f(x):"}], seed=1
        )

    response = asyncio.run(call())
    assert "```python" in response.choices[0].message.content
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0


def test_a_completion_is_priced_from_its_tokens_and_a_repeat_is_a_free_cache_hit(tmp_path, humaneval):
    client = ModelClient(cache=ResponseCache(tmp_path))
    request = generate_request(humaneval[2], seed=4)
    first = asyncio.run(client.complete(LARGE, request))
    assert first.error is None and not first.cached and first.attempts == 1
    expected = sim.respond("large", request.messages, seed=4, max_tokens=request.max_tokens)
    assert (first.text, first.input_tokens, first.output_tokens) == (
        expected.text, expected.input_tokens, expected.output_tokens,
    )  # fmt: skip
    assert first.cost_usd == pytest.approx(
        (first.input_tokens * 0.60 + first.output_tokens * 0.80) / 1e6
    )
    # a new client (a later run) over the same directory: no model call, zero cost
    again = asyncio.run(ModelClient(cache=ResponseCache(tmp_path)).complete(LARGE, request))
    assert again.cached and again.cost_usd == 0.0 and again.attempts == 0
    assert (again.text, again.input_tokens, again.output_tokens) == (
        first.text, first.input_tokens, first.output_tokens,
    )  # fmt: skip


def test_cache_key_separates_model_seed_and_sample(tmp_path, humaneval):
    client = ModelClient(cache=ResponseCache(tmp_path))
    problem = humaneval[5]

    async def run_all():
        return await asyncio.gather(
            client.complete(SMALL, generate_request(problem, seed=0)),
            client.complete(LARGE, generate_request(problem, seed=0)),
            client.complete(SMALL, generate_request(problem, seed=1)),
            client.complete(SMALL, generate_request(problem, seed=0, sample_index=1)),
        )

    results = asyncio.run(run_all())
    assert not any(r.cached for r in results)
    assert ResponseCache(tmp_path).stats().entries == 4


def test_identical_requests_in_flight_share_one_call(tmp_path, humaneval):
    client = ModelClient(cache=ResponseCache(tmp_path))
    request = generate_request(humaneval[7])

    async def run_all():
        return await asyncio.gather(*(client.complete(SMALL, request) for _ in range(5)))

    results = asyncio.run(run_all())
    assert sum(not r.cached for r in results) == 1
    assert sum(r.cost_usd for r in results) == max(r.cost_usd for r in results) > 0
    assert len({r.text for r in results}) == 1


def test_failures_are_not_cached_and_never_raise(tmp_path):
    client = ModelClient(cache=ResponseCache(tmp_path))
    result = asyncio.run(client.complete(ModelConfig("sim/huge"), ModelRequest((("user", "x"),))))
    assert result.error and result.error.startswith("bad_request:") and "sim/small" in result.error
    assert result.text == "" and result.attempts == 1  # a 4xx is not retried
    assert ResponseCache(tmp_path).stats().entries == 0


def test_missing_key_variable_is_a_config_error_without_a_call(tmp_path, monkeypatch):
    monkeypatch.delenv("PATFLOW_TEST_NO_SUCH_KEY", raising=False)
    config = ModelConfig("sim/small", api_key_env="PATFLOW_TEST_NO_SUCH_KEY")
    result = asyncio.run(ModelClient(cache=None).complete(config, ModelRequest((("user", "x"),))))
    assert result.error.startswith("config:") and "PATFLOW_TEST_NO_SUCH_KEY" in result.error
    assert result.attempts == 0


def test_one_client_serves_several_event_loops(tmp_path, humaneval):
    client = ModelClient(cache=None)
    for problem in humaneval[:3]:  # each asyncio.run is a new loop; semaphores are per loop
        assert asyncio.run(client.complete(SMALL, generate_request(problem))).error is None


def test_client_and_cache_pickle_for_dask_workers(tmp_path):
    client = pickle.loads(pickle.dumps(ModelClient(cache=ResponseCache(tmp_path), retry_base_delay_s=0.0)))
    assert client.cache.directory == tmp_path and client.retry_base_delay_s == 0.0


def prices(pricing):
    return (pricing.input_usd_per_mtok, pricing.output_usd_per_mtok, pricing.cost_weight)


def test_pricing_resolution_order():
    assert prices(model_pricing(SMALL)) == (0.05, 0.08, 8.0)
    assert model_pricing(ModelConfig("openai/sim-large")) == model_pricing(LARGE)
    litellm_price = model_pricing(ModelConfig("openai/gpt-4o-mini"))
    assert litellm_price.source == "litellm" and litellm_price.input_usd_per_mtok == pytest.approx(0.15)
    override = model_pricing(
        ModelConfig("sim/small", input_usd_per_mtok=1.0, output_usd_per_mtok=2.0, cost_weight=3.0)
    )
    assert prices(override) == (1.0, 2.0, 3.0) and override.source == "config"
    unknown = model_pricing(ModelConfig("someprovider/unknown-model-xyz"))
    assert prices(unknown) == (0.0, 0.0, None)
    assert cost_usd(override, 1_000_000, 500_000) == pytest.approx(2.0)
    assert sim_model_name("hosted_vllm/sim-medium") == "medium" and sim_model_name("gpt-4o") is None


def test_cache_is_sqlite_wal_and_holds_no_request_secrets(tmp_path, humaneval):
    client = ModelClient(cache=ResponseCache(tmp_path))
    asyncio.run(client.complete(SMALL, generate_request(humaneval[1])))
    with sqlite3.connect(tmp_path / "responses.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in connection.execute("PRAGMA table_info(responses)")]
    assert columns == ["cache_key", "model", "text", "input_tokens", "output_tokens", "created_at_s"]


def test_several_processes_write_one_cache_at_once(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    # the writer lives in a module without litellm: each spawned child imports only that
    workers = [context.Process(target=write_cache_entries, args=(str(tmp_path), w, 150)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    cache = ResponseCache(tmp_path)
    assert cache.stats().entries == 4 * 150 + 1
    assert cache.get("key-3-149").output_tokens == 298
    assert cache.get("shared-key").text.startswith("first writer wins")


def test_a_cancelled_leader_does_not_cancel_its_followers(humaneval):
    client = ModelClient(cache=None)
    request = generate_request(humaneval[9])

    async def scenario():
        import litellm

        original = litellm.acompletion

        async def slow_then_real(**kwargs):
            await asyncio.sleep(0.2)
            return await original(**kwargs)

        litellm.acompletion = slow_then_real
        try:
            leader = asyncio.create_task(client.complete(SMALL, request))
            await asyncio.sleep(0.05)
            follower = asyncio.create_task(client.complete(SMALL, request))
            await asyncio.sleep(0.05)
            leader.cancel()
            return await follower
        finally:
            litellm.acompletion = original

    result = asyncio.run(scenario())
    assert result.error is None and not result.cached and result.attempts == 1


def test_tokens_per_minute_limit_delays_requests_past_the_budget(monkeypatch, humaneval):
    import time

    from tasks.models import limits as limits_module

    monkeypatch.setattr(limits_module.TokenWindow, "WINDOW_S", 0.5)  # a "minute" of 0.5 s
    client = ModelClient(cache=None)
    # each request reserves its ~170 input tokens + max_tokens 100: two fit in 600, not three
    config = ModelConfig("sim/small", tokens_per_minute=600)

    async def three():
        requests = [
            ModelRequest(generate_request(p).messages, max_tokens=100) for p in humaneval[20:23]
        ]
        started = time.monotonic()
        results = await asyncio.gather(*(client.complete(config, r) for r in requests))
        return results, time.monotonic() - started

    results, elapsed_s = asyncio.run(three())
    assert all(r.error is None for r in results)
    assert elapsed_s >= 0.45  # the third waited for the window to roll over


def test_requests_per_minute_spaces_requests(humaneval):
    import time

    client = ModelClient(cache=None)
    config = ModelConfig("sim/small", requests_per_minute=600)  # 10/s, spaced 0.11 s

    async def five():
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.complete(config, generate_request(p)) for p in humaneval[30:35])
        )
        return results, time.monotonic() - started

    results, elapsed_s = asyncio.run(five())
    assert all(r.error is None for r in results) and elapsed_s >= 4 * 0.11 - 0.01


def test_retry_after_is_read_as_seconds_or_http_date():
    import email.utils
    import time

    from tasks.models.client import _retry_after_s

    class Response:
        def __init__(self, headers):
            self.headers = headers

    class Failure(Exception):
        def __init__(self, headers):
            self.response = Response(headers)

    assert _retry_after_s(Failure({"retry-after": "3"})) == 3.0
    assert _retry_after_s(Failure({"retry-after-ms": "250"})) == 0.25
    in_ten_s = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8.0 <= _retry_after_s(Failure({"retry-after": in_ten_s})) <= 10.0
    assert _retry_after_s(Failure({})) is None
    assert _retry_after_s(Failure({"retry-after": "soon"})) is None
