"""A model's request limits within one event loop: calls in flight, request spacing, tokens.

``ModelLimits`` holds the three for one (model, api_base, limits) in one loop (``limits_key``);
``tasks.models.client.ModelClient`` makes them lazily per running loop, because asyncio
primitives are loop-bound. The request spacing's clock (``SpacingClock``) is shared by every
loop of one client, so consecutive loops do not burst. A sweep divides each model's limits
among its worker processes (``tasks.sweep.share_limits``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from tasks.records import ModelConfig


class SpacingClock:
    """When a model's last request was released and when it last left, shared by every event
    loop of one client: a new loop must not send as if the previous loop's requests had never
    happened."""

    __slots__ = ("released", "left")

    def __init__(self) -> None:
        self.released = -float("inf")
        self.left = -float("inf")


class RequestSpacing:
    """Consecutive requests leave at least ``interval_s`` apart, measured when each one leaves.

    Two gates. ``acquire`` (before the call, outside its timeout) releases calls one interval
    apart, so a queue of waiting calls never counts against their timeouts. ``leave`` runs in
    the aiohttp ``on_request_start`` hook, when the request's bytes are about to go out, and
    holds it until one interval after the previous request left. Between the two a call still
    does litellm's per-call work and may wait for the CPU turn; on a loaded machine that took
    a varying few hundred ms, so released calls left in bunches (two workers at 3/s each: the
    server counted 10 requests in one second). The second gate waits only when that happens.

    Waiters queue on a FIFO lock and each checks the clock again after waking, so a stalled
    event loop never releases a bunch of "overdue" requests at once. The 10 % margin absorbs
    jitter between here and the provider's clock: N spaced requests span 1.1 s at a limit of
    N/s. A call that does not go through the shared HTTP session (an in-process provider)
    passes the first gate only.
    """

    MARGIN = 1.10

    def __init__(self, requests_per_minute: float, clock: SpacingClock | None = None) -> None:
        self.interval_s = 60.0 / requests_per_minute * self.MARGIN
        self.clock = clock if clock is not None else SpacingClock()
        self.lock = asyncio.Lock()
        self.leave_lock = asyncio.Lock()

    @property
    def last_release(self) -> float:
        return self.clock.released

    async def acquire(self) -> None:
        async with self.lock:
            while (wait_s := self.clock.released + self.interval_s - time.monotonic()) > 0:
                await asyncio.sleep(wait_s)
            self.clock.released = time.monotonic()

    async def leave(self) -> None:
        async with self.leave_lock:
            while (wait_s := self.clock.left + self.interval_s - time.monotonic()) > 0:
                await asyncio.sleep(wait_s)
            self.clock.left = time.monotonic()


class TokenWindow:
    """Tokens reserved in the last 60 s stay at or under ``tokens_per_minute``."""

    WINDOW_S = 60.0

    def __init__(self, tokens_per_minute: float) -> None:
        self.limit = tokens_per_minute
        self.entries: deque[list[float]] = deque()  # [time, tokens]

    def _used(self, now: float) -> float:
        while self.entries and self.entries[0][0] <= now - self.WINDOW_S:
            self.entries.popleft()
        return sum(entry[1] for entry in self.entries)

    async def acquire(self, tokens: float) -> list[float]:
        while True:
            now = time.monotonic()
            used = self._used(now)
            if not self.entries or used + tokens <= self.limit:
                entry = [now, tokens]
                self.entries.append(entry)
                return entry
            await asyncio.sleep(max(0.01, self.entries[0][0] + self.WINDOW_S - now))


@dataclass
class ModelLimits:
    semaphore: asyncio.Semaphore
    spacing: RequestSpacing | None
    tokens: TokenWindow | None
    paused_until: float = 0.0  # monotonic time before which no request is sent (Retry-After)
    uses_http_session: bool = False  # the latest call went through the shared aiohttp session


def limits_key(config: ModelConfig) -> tuple:
    """Which calls share one ``ModelLimits`` in a loop: one model at one address with the same
    limits. The limits are part of it because a long-lived loop (one per worker process, shared
    by its chunks) may serve runs that set other limits for the same model."""
    return (config.model, config.api_base, config.max_concurrency, config.requests_per_minute, config.tokens_per_minute)


def model_limits(config: ModelConfig, clock: SpacingClock) -> ModelLimits:
    """Fresh limits for ``config`` in the running loop; ``clock`` carries the request spacing
    over from the model's previous loops."""
    return ModelLimits(
        semaphore=asyncio.Semaphore(max(1, config.max_concurrency)),
        spacing=RequestSpacing(config.requests_per_minute, clock) if config.requests_per_minute else None,
        tokens=TokenWindow(config.tokens_per_minute) if config.tokens_per_minute else None,
    )
