"""Why one event loop falls short of the ideal rate, without litellm: synthetic per-call CPU.

A bare aiohttp client sends 960 requests, 32 at a time, to `patflow sim serve --latency-ms 200`
(ideal 160 req/s) and burns a fixed amount of CPU per call before sending and after the answer,
split over several `await`s the way litellm's work is. Three ways of running that work:
- `bare`: no synthetic CPU (the server's and aiohttp's own limit);
- `interleaved`: asyncio's round-robin; answers that arrive together finish together and the
  freed slots' next requests leave together, so the calls stay in lock-step;
- `turns`: each call holds a FIFO lock while it burns CPU (what `ModelClient` does around
  litellm's code), so the loop serves calls one after another.

Run: .venv/bin/python benchmarks/llm_loop_bench.py [--pre-ms 2] [--post-ms 3] [--awaits 4]
Prints req/s, share of ideal, CPU per call and the load average for each mode, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_bench import CONCURRENCY, LATENCY_MS, Server  # noqa: E402


def burn(cpu_ms: float) -> None:
    end = time.thread_time() + cpu_ms / 1000
    while time.thread_time() < end:
        pass


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc) -> None:
        return None


async def run(api_base: str, requests: int, mode: str, pre_ms: float, post_ms: float,
              awaits: int) -> dict:  # fmt: skip
    import aiohttp

    if mode == "bare":
        pre_ms = post_ms = 0.0
    turn = asyncio.Lock() if mode == "turns" else _NoLock()
    slots = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def work(cpu_ms: float) -> None:
            async with turn:
                for _ in range(awaits):
                    burn(cpu_ms / awaits)
                    await asyncio.sleep(0)

        async def call(index: int) -> str:
            async with slots:
                await work(pre_ms)
                body = {"model": "sim-small", "max_tokens": 1024, "seed": 0,
                        "messages": [{"role": "user", "content": f"def f_{mode}_{index}(): pass"}]}  # fmt: skip
                async with session.post(f"{api_base}/chat/completions", json=body) as response:
                    text = (await response.json())["choices"][0]["message"]["content"]
                await work(post_ms)
                return text

        await call(-1)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(call(i) for i in range(requests)))
        cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
    ideal = CONCURRENCY * 1000 / LATENCY_MS
    return {"mode": mode, "rate_per_s": round(requests / wall_s, 1),
            "share_of_ideal": round(requests / wall_s / ideal, 3),
            "cpu_ms_per_call": round(1000 * cpu_s / requests, 2),
            "load_average_1min": round(os.getloadavg()[0], 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=960)
    parser.add_argument("--pre-ms", type=float, default=2.0, help="CPU per call before sending")
    parser.add_argument("--post-ms", type=float, default=3.0, help="CPU per call after the answer")
    parser.add_argument("--awaits", type=int, default=4, help="awaits the CPU is spread over")
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    server = Server("--latency-ms", str(LATENCY_MS))
    try:
        for _ in range(options.repeats):
            for mode in ("bare", "interleaved", "turns"):
                row = asyncio.run(run(server.api_base, options.requests, mode, options.pre_ms,
                                      options.post_ms, options.awaits))  # fmt: skip
                print(f"{row['mode']:>11}: {row['rate_per_s']} req/s ({100 * row['share_of_ideal']:.1f}%"
                      f" of {CONCURRENCY * 1000 / LATENCY_MS:.0f}), CPU {row['cpu_ms_per_call']} ms/call,"
                      f" load average {row['load_average_1min']}")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
