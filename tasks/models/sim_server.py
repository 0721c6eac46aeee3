"""An OpenAI-compatible HTTP server in front of the simulator, with fault injection.

``patflow sim serve`` runs ``serve(...)``. Endpoints:
- ``POST /v1/chat/completions``: model ``sim-small`` / ``sim-medium`` / ``sim-large`` (``sim/small``
  and ``small`` are accepted too); the answer and usage are exactly what the in-process
  ``sim/<name>`` returns for the same messages, seed and ``max_tokens``.
- ``GET /v1/models``: the served model names.
- ``GET /sim/stats``: counters (requests, responses by status, the most requests that arrived in
  any 1 s window) for load and fault tests; ``POST /sim/faults`` (JSON of ``FaultSettings``
  fields) changes the fault settings of a running server; ``POST /sim/reset`` zeroes counters.

Faults, applied per request in this order: the ``rate_limit_per_s`` token bucket (capacity one
second's worth; over it: 429 with Retry-After), the first ``fail_first`` requests, then a random
``error_rate`` fraction, fail with ``error_kind``: ``500``, ``429`` (with Retry-After),
``malformed`` (200 with a body that is not JSON), ``slow`` (answer after ``slow_ms``) or
``disconnect`` (the connection is dropped without a response). Every answered request waits
``latency_ms`` ± ``jitter_ms`` first. The fault RNG is seeded (``fault_seed``).

The Authorization header is never read, logged or stored. No access log is written.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from typing import Iterable

from aiohttp import web

from tasks.models import sim, sim_tokens

ERROR_KINDS = ("500", "429", "malformed", "slow", "disconnect")


@dataclass(frozen=True)
class FaultSettings:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_kind: str = "500"
    fail_first: int = 0
    rate_limit_per_s: float | None = None
    retry_after_s: float = 1.0
    slow_ms: float = 5000.0
    fault_seed: int = 0

    def validated(self) -> FaultSettings:
        if self.error_kind not in ERROR_KINDS:
            raise ValueError(f"error kind {self.error_kind!r} is not one of {', '.join(ERROR_KINDS)}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error rate {self.error_rate} is not between 0 and 1")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            raise ValueError(f"rate limit {self.rate_limit_per_s} is not positive")
        if self.latency_ms < 0 or self.jitter_ms < 0 or self.slow_ms < 0:
            raise ValueError("latency, jitter and slow times must not be negative")
        return self


def served_model_names() -> list[str]:
    return [f"sim-{name}" for name in sim.SKILLS]


class _Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.by_status: dict[str, int] = {}
        self.arrivals: deque[float] = deque()
        self.max_requests_in_1s = 0
        self.output_tokens = 0
        self.input_tokens = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def arrive(self) -> None:
        now = time.monotonic()
        self.requests += 1
        self.arrivals.append(now)
        while self.arrivals and self.arrivals[0] <= now - 1.0:
            self.arrivals.popleft()
        self.max_requests_in_1s = max(self.max_requests_in_1s, len(self.arrivals))

    def answered(self, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def as_json(self) -> dict:
        return {
            "requests": self.requests,
            "by_status": dict(self.by_status),
            "max_requests_in_1s": self.max_requests_in_1s,
            "max_in_flight": self.max_in_flight,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


class SimServer:
    def __init__(self, faults: FaultSettings) -> None:
        self.faults = faults.validated()
        self.stats = _Stats()
        self._rng = random.Random(faults.fault_seed)
        self._bucket_tokens = faults.rate_limit_per_s or 0.0
        self._bucket_time = time.monotonic()

    # ------------------------------------------------------------------ faults
    def _rate_limited(self) -> float | None:
        """Seconds until a token is free when the bucket is empty, else None (token taken)."""
        rate = self.faults.rate_limit_per_s
        if not rate:
            return None
        now = time.monotonic()
        self._bucket_tokens = min(rate, self._bucket_tokens + (now - self._bucket_time) * rate)
        self._bucket_time = now
        if self._bucket_tokens >= 1.0:
            self._bucket_tokens -= 1.0
            return None
        return (1.0 - self._bucket_tokens) / rate

    def _injected_fault(self) -> str | None:
        if self.stats.requests <= self.faults.fail_first:
            return self.faults.error_kind
        if self.faults.error_rate and self._rng.random() < self.faults.error_rate:
            return self.faults.error_kind
        return None

    # ------------------------------------------------------------------ handlers
    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        stats = self.stats
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            return await self._chat_completions(request)
        finally:
            stats.in_flight -= 1

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        self.stats.arrive()
        wait_s = self._rate_limited()
        if wait_s is not None:
            return self._error(429, "rate limit exceeded", "rate_limit_exceeded",
                               retry_after_s=max(1, math.ceil(wait_s)))  # fmt: skip
        fault = self._injected_fault()
        if fault == "429":
            return self._error(429, "too many requests (injected)", "rate_limit_exceeded",
                               retry_after_s=self.faults.retry_after_s)  # fmt: skip
        if fault == "500":
            return self._error(500, "internal server error (injected)", "server_error")
        if fault == "disconnect":
            if request.transport is not None:
                request.transport.close()
            self.stats.answered("disconnect")
            raise asyncio.CancelledError()
        try:
            body = await request.json()
            model = str(body["model"])
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages is not a list")
        except (ValueError, KeyError, TypeError) as error:
            return self._error(400, f"bad request body: {error}", "invalid_request_error")
        name = model.split("/")[-1]
        name = name[4:] if name.startswith("sim-") else name
        if name not in sim.SKILLS:
            return self._error(404, f"model {model!r} not found; served: "
                               f"{', '.join(served_model_names())}", "model_not_found")  # fmt: skip
        delay_ms = self.faults.latency_ms
        if self.faults.jitter_ms:
            delay_ms += self._rng.uniform(-self.faults.jitter_ms, self.faults.jitter_ms)
        if fault == "slow":
            delay_ms = self.faults.slow_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if fault == "malformed":
            self.stats.answered("malformed")
            return web.Response(status=200, text='{"id": "chatcmpl-broken", "choices": [',
                                content_type="application/json")  # fmt: skip
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        answer = sim.respond(name, messages, seed=body.get("seed", 0), max_tokens=max_tokens)
        self.stats.input_tokens += answer.input_tokens
        self.stats.output_tokens += answer.output_tokens
        self.stats.answered("200")
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": f"sim-{name}",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer.text},
                        "finish_reason": answer.finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": answer.input_tokens,
                    "completion_tokens": answer.output_tokens,
                    "total_tokens": answer.input_tokens + answer.output_tokens,
                },
            }
        )

    def _error(
        self, status: int, message: str, code: str, retry_after_s: float | None = None
    ) -> web.Response:
        self.stats.answered(str(status))
        headers = {}
        if retry_after_s is not None:
            headers["Retry-After"] = str(int(math.ceil(retry_after_s)))
        return web.json_response(
            {"error": {"message": message, "type": code, "code": code}},
            status=status,
            headers=headers,
        )

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "owned_by": "patflow-sim"}
                    for name in served_model_names()
                ],
            }
        )

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response({**self.stats.as_json(), "faults": asdict(self.faults)})

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            known = {f.name for f in fields(FaultSettings)}
            unknown = set(changes) - known
            if unknown:
                raise ValueError(f"unknown fault settings {sorted(unknown)}")
            self.faults = replace(self.faults, **changes).validated()
        except (ValueError, TypeError) as error:
            return web.json_response({"error": {"message": str(error)}}, status=400)
        self._rng = random.Random(self.faults.fault_seed)
        self._bucket_tokens = self.faults.rate_limit_per_s or 0.0
        self._bucket_time = time.monotonic()
        return web.json_response(asdict(self.faults))

    async def reset(self, request: web.Request) -> web.Response:
        self.stats = _Stats()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/chat/completions", self.chat_completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/sim/stats", self.get_stats)
        app.router.add_post("/sim/faults", self.set_faults)
        app.router.add_post("/sim/reset", self.reset)
        return app


def load_benchmark_problems(names: Iterable[str], data_dir: str | None = None) -> int:
    """Register the problems of each benchmark with the simulator; returns how many are known."""
    from tasks.benchmarks import load_benchmark  # another engineer's module: imported lazily

    known = 0
    for name in names:
        known = sim.register_problems(load_benchmark(name, data_dir=data_dir).problems)
    return known


def serve(host: str, port: int, faults: FaultSettings, ready_message: bool = True) -> None:
    """Run until interrupted (SIGINT/SIGTERM)."""
    server = SimServer(faults)
    sim_tokens.tiktoken_encoding()  # load the tokenizer before the first request, not during it
    print_fn = (lambda *args: print(*args, flush=True)) if ready_message else None
    web.run_app(
        server.app(),
        host=host,
        port=port,
        access_log=None,
        print=print_fn,
        handle_signals=True,
        shutdown_timeout=1.0,
    )

