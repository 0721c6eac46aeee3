"""``ModelClient``: one async client for every model, real or simulated, through litellm.

``await client.complete(config, request) -> Completion`` guarantees:
- **Never raises for provider or network faults.** A call that still fails after
  ``config.max_retries`` retries comes back as ``Completion(text="", error="<kind>: ...")``.
  Retried: 429, 408, 409, 5xx, timeouts, connection errors and malformed responses. Not retried:
  other 4xx (bad request, auth, not found) and configuration errors (e.g. a missing key).
- **Backoff:** exponential with full jitter, ``base * 2**(attempt-1)`` capped at ``max_delay_s``;
  a Retry-After header (seconds or HTTP date) is honoured as a floor and also pauses every
  request to that model in this event loop until it has passed. The base delay is
  ``RETRY.base_delay_s`` (module-level, 0.5 s) unless ``ModelClient(retry_base_delay_s=...)``
  is given; tests set either to 0.
- **Limits, per (model, api_base, its limits) and per event loop:** at most
  ``config.max_concurrency`` calls in flight; with ``requests_per_minute`` requests
  leave 1.1 * 60/rpm s apart (a 10 % margin against send-time jitter), so no window of 60 s
  sees more than rpm of them, nor any 1 s window more than rpm/60. The spacing is enforced
  twice (``_RequestSpacing``): before the call, and again in aiohttp's request-start hook, at
  the moment the bytes leave, because litellm's per-call work in between shifted sends by up
  to a few hundred ms on a loaded machine and bunched them. It carries over from one loop of
  the client to the next, so consecutive loops do not burst. A sweep runs every chunk of a
  worker process on one loop (``tasks.process_loop``) and divides each model's limits among
  the worker processes (``tasks.sweep.share_limits``). With ``tokens_per_minute`` the input + ``max_tokens``
  estimate is reserved in a 60 s window and corrected to the real usage afterwards. asyncio
  primitives are loop-bound, so they are created lazily per running loop: one client may
  serve many loops (Dask workers).
- **Per-call timeout** ``config.timeout_s`` (asyncio-enforced, also handed to litellm).
  ``Completion.attempts`` counts tries at the provider (0 for a cache hit);
  ``latency_ms`` is the final attempt's wall time (the cache lookup's for a hit).
- **Cache:** a hit (``ResponseCache``, keyed by ``ModelRequest.cache_key(config.model)``) returns
  ``cached=True``, ``cost_usd=0`` and the tokens as originally counted, with no provider call.
  Identical requests in flight at the same time in one loop share one provider call (the
  followers are marked cached). Only successful completions are stored.
- **Cost:** from the provider's usage (counted with litellm's tokenizer if it omits usage) and
  ``model_pricing(config)``; litellm's own response cost is not used.
- **Event loops:** call ``await client.aclose()`` before a loop ends (e.g. at the end of an
  ``asyncio.run``): it closes the HTTP sessions litellm opened in that loop.
- **One HTTP session per event loop,** handed to litellm as ``shared_session``; its aiohttp trace
  hooks let calls take turns at litellm's CPU-bound work (``_Turn``), which keeps a single
  process near the ideal request rate at high concurrency. A turn only orders work: a wait for
  it is capped at ``_Turn.WAIT_LIMIT_S``, and the timeout, retries and limits above are as
  without it.
- **Secrets:** the API key is read from the variable named by ``config.api_key_env`` at call
  time, handed to litellm only, and scrubbed from error texts; the cache never sees it.
- **Sampling seed sent to the provider:** ``request.seed + 1_000_003 * request.sample_index``,
  so samples of one seed differ and stay reproducible (sample 0 sends the seed unchanged).
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import os
import random
import time
import weakref
from collections import deque
from dataclasses import dataclass, field, replace

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# OpenAI-compatible chat calls (``openai/...`` and every OpenAI-compatible server) go through
# litellm's own HTTP handler instead of the OpenAI SDK: the SDK re-walks every request body
# against its TypedDicts and re-validates the response, ~2.5 ms CPU per call here
# (BENCHMARKS.md, "Model layer"). litellm reads the switch at call time. Errors, Retry-After
# headers and usage come back the same way (tests/models/test_model_http_faults.py).
os.environ.setdefault("EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER", "True")

import litellm  # noqa: E402

from tasks.models import sim_provider  # noqa: E402, F401  (registers the sim/ provider)
from tasks.models.cache import ResponseCache, default_cache_dir  # noqa: E402
from tasks.models.pricing import cost_usd, litellm_prices, model_pricing  # noqa: E402
from tasks.records import Completion, ModelConfig, ModelRequest  # noqa: E402

litellm.suppress_debug_info = True
litellm.telemetry = False

_ERROR_TEXT_LIMIT = 500
SAMPLE_SEED_STRIDE = 1_000_003
# The dummy key sent to OpenAI-compatible self-hosted servers (vLLM, Ollama, ``patflow sim
# serve``) when the config names no key variable: the OpenAI SDK refuses to send none.
NO_KEY = "sk-no-key-required"


@dataclass
class RetrySettings:
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0  # a larger Retry-After is treated as this


RETRY = RetrySettings()


def provider_seed(request: ModelRequest) -> int:
    return request.seed + SAMPLE_SEED_STRIDE * request.sample_index


class _CallFailed(Exception):
    def __init__(self, kind: str, message: str, retryable: bool, retry_after_s: float | None):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after_s = retry_after_s


# --------------------------------------------------------------------------- limits
class _SpacingClock:
    """When a model's last request was released and when it last left, shared by every event
    loop of one client: a new loop must not send as if the previous loop's requests had never
    happened."""

    __slots__ = ("released", "left")

    def __init__(self) -> None:
        self.released = -float("inf")
        self.left = -float("inf")


class _RequestSpacing:
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

    def __init__(self, requests_per_minute: float, clock: _SpacingClock | None = None) -> None:
        self.interval_s = 60.0 / requests_per_minute * self.MARGIN
        self.clock = clock if clock is not None else _SpacingClock()
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


class _TokenWindow:
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
class _ModelLimits:
    semaphore: asyncio.Semaphore
    spacing: _RequestSpacing | None
    tokens: _TokenWindow | None
    paused_until: float = 0.0  # monotonic time before which no request is sent (Retry-After)
    uses_http_session: bool = False  # a call was seen going through the shared aiohttp session


def limits_key(config: ModelConfig) -> tuple:
    """Which calls share one ``_ModelLimits`` in a loop: one model at one address with the same
    limits. The limits are part of it because a long-lived loop (one per worker process, shared
    by its chunks) may serve runs that set other limits for the same model."""
    return (config.model, config.api_base, config.max_concurrency, config.requests_per_minute, config.tokens_per_minute)


@dataclass
class _LoopState:
    limits: dict[tuple, _ModelLimits] = field(default_factory=dict)
    in_flight: dict[str, asyncio.Future] = field(default_factory=dict)


# --------------------------------------------------------------------------- CPU turns
class _Turn:
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


class _CallTurn:
    """One call's state for the aiohttp hooks: its CPU turn and its model's request spacing."""

    __slots__ = ("turn", "held", "saw_http", "spacing")

    def __init__(self, turn: _Turn, spacing: _RequestSpacing | None = None) -> None:
        self.turn = turn
        self.held = False
        self.saw_http = False
        self.spacing = spacing

    async def take(self) -> None:
        if self.held:
            return
        try:
            async with asyncio.timeout(_Turn.WAIT_LIMIT_S):
                await self.turn.lock.acquire()
        except TimeoutError:
            return
        self.held = True

    def give(self) -> None:
        if self.held:
            self.held = False
            self.turn.lock.release()


_CALL: contextvars.ContextVar[_CallTurn | None] = contextvars.ContextVar("patflow_model_call",
                                                                        default=None)  # fmt: skip


async def _on_request_start(session, context, params) -> None:
    call = _CALL.get()
    if call is not None:
        call.saw_http = True
        call.give()
        if call.spacing is not None:
            await call.spacing.leave()


async def _on_request_end(session, context, params) -> None:
    call = _CALL.get()
    if call is not None:
        await call.take()


@dataclass
class _LoopHttp:
    """One aiohttp session per event loop, handed to litellm as ``shared_session``."""

    session: object
    turn: _Turn


_LOOP_HTTP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopHttp] = (
    weakref.WeakKeyDictionary()
)


def _loop_http() -> _LoopHttp:
    loop = asyncio.get_running_loop()
    http = _LOOP_HTTP.get(loop)
    if http is None or http.session.closed:
        import aiohttp
        from litellm.constants import (
            AIOHTTP_CONNECTOR_LIMIT,
            AIOHTTP_CONNECTOR_LIMIT_PER_HOST,
            AIOHTTP_KEEPALIVE_TIMEOUT,
            AIOHTTP_TTL_DNS_CACHE,
        )

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(_on_request_start)
        trace.on_request_end.append(_on_request_end)
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
        http = _LOOP_HTTP[loop] = _LoopHttp(session=session, turn=_Turn())
    return http


# --------------------------------------------------------------------------- errors
def _retry_after_s(error: BaseException) -> float | None:
    headers = None
    response = getattr(error, "response", None)
    if response is not None:
        headers = getattr(response, "headers", None)
    headers = headers or getattr(error, "litellm_response_headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        milliseconds = headers.get("retry-after-ms")
        return float(milliseconds) / 1000 if milliseconds else None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


# litellm reports refused/reset connections as 500s: "Connection error" through the OpenAI SDK,
# aiohttp's "Cannot connect to host" through litellm's own HTTP handler.
_CONNECTION_MARKERS = ("Connection error", "Cannot connect to host")


def _classify(error: BaseException) -> _CallFailed:
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, _CallFailed):
        return error
    if isinstance(error, (asyncio.TimeoutError, litellm.Timeout)):
        return _CallFailed("timeout", message.rstrip(": "), True, None)
    if isinstance(error, litellm.RateLimitError):
        return _CallFailed("rate_limited", message, True, _retry_after_s(error))
    if isinstance(error, litellm.APIConnectionError):
        # litellm also raises APIConnectionError for responses it cannot parse.
        return _CallFailed("connection", message, True, None)
    if isinstance(error, litellm.AuthenticationError):
        return _CallFailed("auth", message, False, None)
    if isinstance(error, (litellm.NotFoundError, litellm.BadRequestError)):
        return _CallFailed("bad_request", message, False, None)
    if any(marker in str(error) for marker in _CONNECTION_MARKERS):
        return _CallFailed("connection", message, True, None)
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and status in (408, 409, 429):
        return _CallFailed("rate_limited" if status == 429 else "server_error", message, True,
                           _retry_after_s(error))  # fmt: skip
    if isinstance(status, int) and 400 <= status < 500:
        return _CallFailed("bad_request", message, False, None)
    if isinstance(error, litellm.exceptions.APIError) or isinstance(status, int):
        return _CallFailed("server_error", message, True, _retry_after_s(error))
    if isinstance(error, (ConnectionError, OSError)):
        return _CallFailed("connection", message, True, None)
    return _CallFailed("unexpected", message, False, None)


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***")
    return text[:_ERROR_TEXT_LIMIT]


# --------------------------------------------------------------------------- client
_DEFAULT_CACHE = object()
_PRICES_TAUGHT: set[str] = set()  # models whose prices litellm was given in this process


class ModelClient:
    """See the module docstring. One per process is enough; safe to use from many loops."""

    def __init__(
        self,
        cache: ResponseCache | None = _DEFAULT_CACHE,  # type: ignore[assignment]
        retry_base_delay_s: float | None = None,
    ) -> None:
        self.cache = ResponseCache(default_cache_dir()) if cache is _DEFAULT_CACHE else cache
        self.retry_base_delay_s = retry_base_delay_s
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._spacing_clocks: dict[tuple, _SpacingClock] = {}  # request spacing across loops

    def __getstate__(self) -> dict:
        return {"cache": self.cache, "retry_base_delay_s": self.retry_base_delay_s}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["cache"], state["retry_base_delay_s"])

    # ------------------------------------------------------------------ per-loop state
    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        return state

    def _limits(self, state: _LoopState, config: ModelConfig) -> _ModelLimits:
        model = (config.model, config.api_base)
        key = limits_key(config)
        limits = state.limits.get(key)
        if limits is None:
            limits = state.limits[key] = _ModelLimits(
                semaphore=asyncio.Semaphore(max(1, config.max_concurrency)),
                spacing=_RequestSpacing(
                    config.requests_per_minute, self._spacing_clocks.setdefault(model, _SpacingClock())
                )
                if config.requests_per_minute
                else None,
                tokens=_TokenWindow(config.tokens_per_minute) if config.tokens_per_minute else None,
            )
        return limits

    # ------------------------------------------------------------------ public
    @staticmethod
    def _teach_litellm_prices(config: ModelConfig) -> None:
        """Give litellm patflow's prices for a model its map lacks (sim, self-hosted).

        litellm prices every response itself; for a model it does not know it searches its map
        under ~10 name variants per call (~1.5 ms CPU each call here). Registering the model once
        makes that lookup a hit, and litellm's own response cost then agrees with patflow's.
        Models litellm already prices are left alone.
        """
        if config.model in _PRICES_TAUGHT:
            return
        _PRICES_TAUGHT.add(config.model)
        if litellm_prices(config.model) is not None:
            return
        pricing = model_pricing(config)
        provider = config.model.split("/", 1)[0] if "/" in config.model else "openai"
        entry = {
            "input_cost_per_token": pricing.input_usd_per_mtok / 1e6,
            "output_cost_per_token": pricing.output_usd_per_mtok / 1e6,
            "cache_creation_input_token_cost": 0.0,
            "cache_read_input_token_cost": 0.0,
            "litellm_provider": provider,
            "mode": "chat",
        }
        try:
            litellm.register_model({config.model: entry})
        except Exception:  # an optimisation only
            pass

    async def complete(self, config: ModelConfig, request: ModelRequest) -> Completion:
        key = request.cache_key(config.cache_identity)
        if self.cache is not None:
            started = time.perf_counter()
            try:
                hit = self.cache.get(key)
            except Exception:  # an unreadable cache must not fail the sweep; call the model
                hit = None
            if hit is not None:
                return Completion(
                    text=hit.text,
                    input_tokens=hit.input_tokens,
                    output_tokens=hit.output_tokens,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    cached=True,
                    cost_usd=0.0,
                    attempts=0,
                )
        state = self._state()
        while (leader := state.in_flight.get(key)) is not None:
            try:
                result: Completion = await asyncio.shield(leader)
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise
                continue  # the leader was cancelled, not us: make the call ourselves
            if result.error is not None:
                return result
            return replace(result, cached=True, cost_usd=0.0, attempts=0)
        future = asyncio.get_running_loop().create_future()
        state.in_flight[key] = future
        try:
            result = await self._call_with_retries(state, config, request)
            if result.error is None and self.cache is not None:
                try:
                    self.cache.put(key, config.model, result.text, result.input_tokens,
                                   result.output_tokens)  # fmt: skip
                except Exception:  # a full disk loses the cache entry, not the answer
                    pass
            future.set_result(result)
            return result
        except BaseException as error:  # cancelled: followers must not wait forever
            future.set_exception(error)
            future.exception()  # mark retrieved
            raise
        finally:
            state.in_flight.pop(key, None)

    async def aclose(self) -> None:
        """Close the HTTP clients litellm opened in the running event loop.

        litellm caches one provider client (and its aiohttp session) per event loop and never
        closes it; code that runs the client in a short-lived loop (``asyncio.run``) should await
        this before the loop ends, or every such loop leaks a session ("Unclosed client session").
        """
        loop_suffix = f"-{id(asyncio.get_running_loop())}"
        cache = litellm.in_memory_llm_clients_cache
        for key in [k for k in list(getattr(cache, "cache_dict", {})) if k.endswith(loop_suffix)]:
            handler = cache.cache_dict.get(key)
            closer = getattr(handler, "close", None) or getattr(handler, "aclose", None)
            try:
                if closer is not None:
                    result = closer()
                    if asyncio.iscoroutine(result):
                        await result
            except Exception:  # closing is best effort; the entry goes either way
                pass
            cache.cache_dict.pop(key, None)
            getattr(cache, "ttl_dict", {}).pop(key, None)
        self._loops.pop(asyncio.get_running_loop(), None)
        http = _LOOP_HTTP.pop(asyncio.get_running_loop(), None)
        if http is not None:
            try:
                await http.session.close()
            except Exception:  # closing is best effort
                pass

    # ------------------------------------------------------------------ internals
    def _backoff_s(self, attempt: int) -> float:
        base = RETRY.base_delay_s if self.retry_base_delay_s is None else self.retry_base_delay_s
        if base <= 0:
            return 0.0
        return random.uniform(0, min(RETRY.max_delay_s, base * 2 ** (attempt - 1)))

    async def _call_with_retries(
        self, state: _LoopState, config: ModelConfig, request: ModelRequest
    ) -> Completion:
        api_key: str | None = None
        if config.api_key_env:
            api_key = os.environ.get(config.api_key_env)
            if not api_key:
                return _failed(f"config: environment variable {config.api_key_env} is not set", 0)
        elif config.api_base:
            api_key = NO_KEY
        limits = self._limits(state, config)
        self._teach_litellm_prices(config)
        messages = [{"role": role, "content": content} for role, content in request.messages]
        attempts = 0
        while True:
            attempts += 1
            pause_s = limits.paused_until - time.monotonic()
            if pause_s > 0:
                await asyncio.sleep(pause_s)
            try:
                async with limits.semaphore:
                    return await self._attempt(config, request, messages, api_key, limits, attempts)
            except Exception as error:  # noqa: BLE001 - every fault becomes data
                failure = _classify(error)
            if not failure.retryable or attempts > config.max_retries:
                detail = _scrub(str(failure), api_key)
                if failure.kind == "timeout":
                    detail = f"no answer within {config.timeout_s} s ({detail})"
                return _failed(f"{failure.kind}: {detail}", attempts)
            delay_s = self._backoff_s(attempts)
            if failure.retry_after_s is not None:
                retry_after_s = min(failure.retry_after_s, RETRY.max_retry_after_s)
                limits.paused_until = max(limits.paused_until, time.monotonic() + retry_after_s)
                delay_s = max(delay_s, retry_after_s)
            if delay_s > 0:
                await asyncio.sleep(delay_s)

    async def _attempt(
        self,
        config: ModelConfig,
        request: ModelRequest,
        messages: list[dict],
        api_key: str | None,
        limits: _ModelLimits,
        attempt: int,
    ) -> Completion:
        reservation = None
        if limits.tokens is not None:
            estimate = litellm.token_counter(model=config.model, messages=messages)
            reservation = await limits.tokens.acquire(estimate + request.max_tokens)
        if limits.spacing is not None:
            await limits.spacing.acquire()
        http = _loop_http()
        call = _CallTurn(http.turn, limits.spacing)
        token = _CALL.set(call)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(config.timeout_s):
                if limits.uses_http_session:
                    await call.take()
                response = await litellm.acompletion(
                    model=config.model,
                    messages=messages,
                    temperature=request.temperature,
                    max_tokens=request.max_tokens,
                    seed=provider_seed(request),
                    api_base=config.api_base,
                    api_key=api_key,
                    timeout=config.timeout_s,
                    num_retries=0,
                    max_retries=0,
                    drop_params=True,
                    shared_session=http.session,
                    # The request kind and task for the simulator (litellm keeps metadata to
                    # itself: no real provider receives it).
                    metadata={"patflow": dict(request.metadata)} if request.metadata else None,
                )
        except BaseException:
            if reservation is not None:
                reservation[1] = 0.0  # a failed call consumed no tokens at the provider
            raise
        finally:
            call.give()
            _CALL.reset(token)
            limits.uses_http_session = limits.uses_http_session or call.saw_http
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError) as error:
            raise _CallFailed("malformed_response", f"no message in response: {error}", True,
                              None) from None  # fmt: skip
        usage = getattr(response, "usage", None)
        input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        if input_tokens == 0 and output_tokens == 0:
            input_tokens = int(litellm.token_counter(model=config.model, messages=messages))
            output_tokens = int(
                litellm.token_counter(model=config.model, text=text, count_response_tokens=True)
            )
        if reservation is not None:
            reservation[1] = float(input_tokens + output_tokens)
        pricing = model_pricing(config)
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=latency_ms,
            cached=False,
            cost_usd=cost_usd(pricing, input_tokens, output_tokens),
            attempts=attempt,
        )


def _failed(error: str, attempts: int) -> Completion:
    return Completion(
        text="", input_tokens=0, output_tokens=0, latency_ms=0.0, error=error, attempts=attempts
    )
