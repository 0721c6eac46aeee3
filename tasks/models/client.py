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
  ``config.max_concurrency`` requests in flight at the provider. Once a model's calls are seen
  to go through the shared HTTP session, a call holds its slot only from the moment its
  request leaves until the response headers arrive (aiohttp's hooks, ``tasks.models.loop_http``):
  litellm's work before and after runs outside it, and the wait for a slot does not count
  against the call's timeout nor its ``latency_ms``. Other calls (an in-process provider, a
  model's first calls) hold the slot through the whole attempt. With ``requests_per_minute`` requests
  leave 1.1 * 60/rpm s apart (a 10 % margin against send-time jitter), so no window of 60 s
  sees more than rpm of them, nor any 1 s window more than rpm/60. The spacing is enforced
  twice (``tasks.models.limits.RequestSpacing``): before the call, and again in aiohttp's
  request-start hook, at the moment the bytes leave, because litellm's per-call work in
  between shifted sends by up to a few hundred ms on a loaded machine and bunched them. It carries over from one loop of
  the client to the next, so consecutive loops do not burst. A sweep runs every chunk of a
  worker process on one loop (``tasks.process_loop``) and divides each model's limits among
  the worker processes (``tasks.sweep.share_limits``). With ``tokens_per_minute`` the input + ``max_tokens``
  estimate is reserved in a 60 s window and corrected to the real usage afterwards. asyncio
  primitives are loop-bound, so they are created lazily per running loop: one client may
  serve many loops (Dask workers).
- **Per-call timeout** ``config.timeout_s`` (asyncio-enforced, also handed to litellm).
  ``Completion.attempts`` counts tries at the provider (0 for a cache hit);
  ``latency_ms`` is the final attempt's wall time, without its wait for a concurrency slot (the
  cache lookup's for a hit).
- **Cache:** a hit (``ResponseCache``, keyed by ``ModelRequest.cache_key(config.model)``) returns
  ``cached=True``, ``cost_usd=0`` and the tokens as originally counted, with no provider call.
  Identical requests in flight at the same time in one loop share one provider call (the
  followers are marked cached). Only successful completions are stored.
- **Cost:** from the provider's usage (counted with litellm's tokenizer if it omits usage) and
  ``model_pricing(config)``; litellm's own response cost is not used.
- **Event loops:** call ``await client.aclose()`` before a loop ends (e.g. at the end of an
  ``asyncio.run``): it closes the HTTP sessions litellm opened in that loop.
- **One HTTP session per event loop,** handed to litellm as ``shared_session``; its aiohttp trace
  hooks let calls take turns at litellm's CPU-bound work (``tasks.models.loop_http.CpuTurn``),
  which keeps a single process near the ideal request rate at high concurrency. A turn only
  orders work: a wait for it is capped at ``CpuTurn.WAIT_LIMIT_S``, and the timeout, retries
  and limits above are as without it.
- **Secrets:** the API key is read from the variable named by ``config.api_key_env`` at call
  time, handed to litellm only, and scrubbed from error texts; the cache never sees it.
- **Sampling seed sent to the provider:** ``request.seed + 1_000_003 * request.sample_index``,
  so samples of one seed differ and stay reproducible (sample 0 sends the seed unchanged).
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
import weakref
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
from tasks.models.limits import ModelLimits, SpacingClock, limits_key, model_limits  # noqa: E402
from tasks.models.loop_http import CURRENT_CALL, CallTurn, close_loop_http, loop_http  # noqa: E402
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


@dataclass
class _LoopState:
    limits: dict[tuple, ModelLimits] = field(default_factory=dict)
    in_flight: dict[str, asyncio.Future] = field(default_factory=dict)


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
        self._spacing_clocks: dict[tuple, SpacingClock] = {}  # request spacing across loops

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

    def _limits(self, state: _LoopState, config: ModelConfig) -> ModelLimits:
        key = limits_key(config)
        limits = state.limits.get(key)
        if limits is None:
            clock = self._spacing_clocks.setdefault((config.model, config.api_base), SpacingClock())
            limits = state.limits[key] = model_limits(config, clock)
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
        await close_loop_http()

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
                if limits.uses_http_session:  # the slot is taken in the request hooks (loop_http)
                    return await self._attempt(config, request, messages, api_key, limits, attempts)
                async with limits.semaphore:
                    return await self._attempt(config, request, messages, api_key, limits, attempts,
                                               slot_held=True)  # fmt: skip
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
        limits: ModelLimits,
        attempt: int,
        slot_held: bool = False,
    ) -> Completion:
        reservation = None
        if limits.tokens is not None:
            estimate = litellm.token_counter(model=config.model, messages=messages)
            reservation = await limits.tokens.acquire(estimate + request.max_tokens)
        if limits.spacing is not None:
            await limits.spacing.acquire()
        http = loop_http()
        call = CallTurn(http.turn, limits.spacing, None if slot_held else limits.semaphore)
        token = CURRENT_CALL.set(call)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(config.timeout_s) as call.deadline:
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
            call.leave_slot()
            CURRENT_CALL.reset(token)
            # the model's latest call decides: a call that never reached the session (an
            # in-process provider, another transport) sends the next ones back to whole-call slots
            limits.uses_http_session = call.saw_http
        latency_ms = (time.perf_counter() - started - call.slot_wait_s) * 1000
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
