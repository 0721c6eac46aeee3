"""A model entry's limits hold for the whole sweep: each chunk gets its share of them.

The unit part checks the division; the slow part runs a real 2-worker sweep against the loopback
sim server and reads the server's own count of requests in any 1 s window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.records import ModelConfig
from tasks.sweep import share_limits

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "models"))


def test_limits_are_divided_among_the_chunks_that_run_at_once():
    config = ModelConfig("openai/x", max_concurrency=32, requests_per_minute=600, tokens_per_minute=9000)
    half = share_limits(config, 2)
    assert (half.max_concurrency, half.requests_per_minute, half.tokens_per_minute) == (16, 300, 4500)
    assert share_limits(config, 1) is config
    tiny = share_limits(ModelConfig("openai/x", max_concurrency=1), 4)
    assert tiny.max_concurrency == 1 and tiny.requests_per_minute is None


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_two_real_workers_together_stay_under_the_requests_per_minute_written(tmp_path):
    from model_fixtures import SimServerProcess, free_port

    rate_per_s = 6
    models = tmp_path / "models.toml"
    models.write_text(
        "".join(
            f'[models."{name}"]\nrequests_per_minute = {60 * rate_per_s}\nmax_concurrency = 16\n'
            for name in ("openai/sim-small", "openai/sim-large")
        )
    )
    server = SimServerProcess(free_port(), tmp_path / "sim.log", "--benchmark", "humaneval").start()
    # A loaded machine needs minutes to start a fresh Prefect database.
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600")
    env.pop("PREFECT_API_URL", None)
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "patflow"), "run", "--benchmark", "humaneval",
             "--policy", "standard", "--limit", "40", "--seeds", "2", "--workers", "2",
             "--chunk-size", "4", "--generator", "openai/sim-small", "--planner", "openai/sim-large",
             "--api-base", server.api_base, "--models-config", str(models),
             "--store", str(tmp_path / "runs"), "--run-id", "rate", "--cache-dir", str(tmp_path / "cache"),
             "--format", "json"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        stats = server.stats()
    finally:
        server.kill()
    assert result.returncode == 0, result.stdout + result.stderr
    assert stats["requests"] >= 60, json.dumps(stats)
    # The sweep-wide limit held (per worker, two workers would have allowed twice as many).
    assert stats["max_requests_in_1s"] <= rate_per_s, json.dumps(stats)


def test_request_spacing_carries_over_from_one_event_loop_to_the_next():
    import asyncio
    import time

    from tasks.models.limits import RequestSpacing, SpacingClock

    shared = SpacingClock()
    asyncio.run(RequestSpacing(120, shared).acquire())  # one chunk's loop sends a request
    started = time.monotonic()
    asyncio.run(RequestSpacing(120, shared).acquire())  # the next chunk's fresh loop waits
    assert time.monotonic() - started >= 0.5  # 1.1 * 60/120 s after the first, less the gap


def test_requests_leave_one_interval_apart_however_late_they_were_released():
    """The second gate (aiohttp's request-start hook): calls released on time but delayed by
    litellm's work still leave one interval apart."""
    import asyncio
    import time

    from tasks.models.limits import RequestSpacing

    spacing = RequestSpacing(600)  # 0.11 s between requests

    async def three_late_requests() -> list[float]:
        for _ in range(3):
            await spacing.acquire()
        await asyncio.sleep(spacing.interval_s * 3)  # all three held up past their release
        left = []

        async def leave() -> None:
            await spacing.leave()
            left.append(time.monotonic())

        await asyncio.gather(leave(), leave(), leave())
        return left

    left = asyncio.run(three_late_requests())
    gaps = [later - earlier for earlier, later in zip(left, left[1:])]
    assert len(gaps) == 2 and min(gaps) >= spacing.interval_s * 0.99, gaps
