"""One aiohttp session per event loop for litellm, and turns at the loop's CPU for its calls.

``loop_http()`` returns the running loop's ``LoopHttp``: the session handed to litellm as
``shared_session`` and the loop's ``CpuTurn``. The session's trace hooks give a call's turn up
when its HTTP request starts and take it again when the response headers arrive. Between the
two the call may hold one of its model's concurrency slots (``CallTurn.slots``): taken when
the request starts, given back when the headers arrive or the request fails, so litellm's own
work before and after a request never holds a slot a ready request could use. The request
start hook also holds the request for its model's spacing (``tasks.models.limits.RequestSpacing``).
A call publishes itself to the hooks in ``CURRENT_CALL``.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import weakref
from dataclasses import dataclass

from tasks.models.limits import RequestSpacing


class CpuTurn:
    """First come, first served use of the event loop's CPU for litellm's per-call work.

    litellm spends a few ms of CPU per call before the request leaves and again after the
    answer arrives, spread over many ``await``s. asyncio runs ready tasks round-robin, so with
    32 calls in flight each call's work is interleaved with everyone else's: all answers that
    arrive together finish together, their slots' next requests leave together, and a server
    with steady latency keeps the calls in lock-step (cycle = latency + 32 x per-call CPU).
    Holding a turn while running litellm's code makes the loop serve calls one after another,
    so a freed slot's next request leaves after one call's work instead of all of them:
    BENCHMARKS.md ("Model layer") measures the effect.

    A call takes the turn before ``litellm.acompletion`` (only for models whose calls were seen
    to go through the shared HTTP session, so an in-process provider never holds it through
    its whole call), gives it up when an HTTP request starts, takes it again when the response
    headers arrive, and gives it up when litellm returns. A wait for the turn longer than
    ``WAIT_LIMIT_S`` proceeds without it: the turn orders work, it never blocks a call (it
    cannot deadlock with a lock inside litellm, e.g. a credential refresh).
    """

    WAIT_LIMIT_S = 1.0

    def __init__(self) -> None:
        self.lock = asyncio.Lock()


class CallTurn:
    """One call's state for the aiohttp hooks: its CPU turn, its model's request spacing and,
    when ``slots`` is given, its model's concurrency slots, held only while a request is out.

    ``deadline``: the call's ``asyncio.timeout``, stopped while the call waits for a slot, so
    a queue of ready requests never counts against their timeouts (the same as a wait for the
    slot before the call); ``slot_wait_s`` sums those waits."""

    __slots__ = ("turn", "held", "saw_http", "spacing", "slots", "in_slot", "deadline", "slot_wait_s")

    def __init__(self, turn: CpuTurn, spacing: RequestSpacing | None = None,
                 slots: asyncio.Semaphore | None = None) -> None:  # fmt: skip
        self.turn = turn
        self.held = False
        self.saw_http = False
        self.spacing = spacing
        self.slots = slots
        self.in_slot = False
        self.deadline: asyncio.Timeout | None = None
        self.slot_wait_s = 0.0

    async def enter_slot(self) -> None:
        if self.slots is None or self.in_slot:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        when = self.deadline.when() if self.deadline is not None else None
        if when is not None:
            self.deadline.reschedule(None)  # the clock stops while the call waits for a slot
        try:
            await self.slots.acquire()
        finally:
            waited = loop.time() - started
            self.slot_wait_s += waited
            if when is not None:
                self.deadline.reschedule(when + waited)
        self.in_slot = True

    def leave_slot(self) -> None:
        if self.in_slot:
            self.in_slot = False
            self.slots.release()

    async def take(self) -> None:
        if self.held:
            return
        try:
            async with asyncio.timeout(CpuTurn.WAIT_LIMIT_S):
                await self.turn.lock.acquire()
        except TimeoutError:
            return
        self.held = True

    def give(self) -> None:
        if self.held:
            self.held = False
            self.turn.lock.release()


CURRENT_CALL: contextvars.ContextVar[CallTurn | None] = contextvars.ContextVar("patflow_model_call",
                                                                        default=None)  # fmt: skip


async def _on_request_start(session, context, params) -> None:
    call = CURRENT_CALL.get()
    if call is not None:
        call.saw_http = True
        call.give()  # before any wait: a call waiting for a slot must not hold up the others' work
        await call.enter_slot()
        if call.spacing is not None:
            await call.spacing.leave()


async def _on_request_end(session, context, params) -> None:
    call = CURRENT_CALL.get()
    if call is not None:
        call.leave_slot()
        await call.take()


async def _on_request_exception(session, context, params) -> None:
    call = CURRENT_CALL.get()
    if call is not None:
        call.leave_slot()


@dataclass
class LoopHttp:
    """One aiohttp session per event loop, handed to litellm as ``shared_session``."""

    session: object
    turn: CpuTurn


_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopHttp] = (
    weakref.WeakKeyDictionary()
)


def loop_http() -> LoopHttp:
    loop = asyncio.get_running_loop()
    http = _SESSIONS.get(loop)
    if http is None or http.session.closed:
        import aiohttp
        import litellm  # imported by tasks.models.client first, after its environment settings
        from litellm.constants import (
            AIOHTTP_CONNECTOR_LIMIT,
            AIOHTTP_CONNECTOR_LIMIT_PER_HOST,
            AIOHTTP_KEEPALIVE_TIMEOUT,
            AIOHTTP_TTL_DNS_CACHE,
        )

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(_on_request_start)
        trace.on_request_end.append(_on_request_end)
        trace.on_request_exception.append(_on_request_exception)
        # The connector settings litellm gives its own sessions; TLS settings (litellm.ssl_verify,
        # SSL_CERT_FILE) are applied per request by litellm's transport, shared session or not.
        connector = aiohttp.TCPConnector(
            limit=AIOHTTP_CONNECTOR_LIMIT,
            limit_per_host=AIOHTTP_CONNECTOR_LIMIT_PER_HOST,
            keepalive_timeout=AIOHTTP_KEEPALIVE_TIMEOUT,
            ttl_dns_cache=AIOHTTP_TTL_DNS_CACHE,
        )
        trust_env = bool(litellm.aiohttp_trust_env) or os.environ.get(
            "AIOHTTP_TRUST_ENV", "").lower() in ("1", "true")  # fmt: skip
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                        trust_env=trust_env, trace_configs=[trace])  # fmt: skip
        http = _SESSIONS[loop] = LoopHttp(session=session, turn=CpuTurn())
    return http


async def close_loop_http() -> None:
    """Close the running loop's session, if it has one (best effort)."""
    http = _SESSIONS.pop(asyncio.get_running_loop(), None)
    if http is not None:
        try:
            await http.session.close()
        except Exception:  # closing is best effort
            pass
