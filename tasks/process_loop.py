"""One asyncio event loop per process, in a thread of its own, for every chunk the process runs.

Why: a Dask worker thread runs one chunk at a time, and a chunk that ran in a fresh
``asyncio.run`` loop of its own left the worker's share of each model's concurrency unused while
it drained (its last items finish one latency after its last request leaves), wrote its files
and reported to Prefect; the next chunk then opened a fresh loop and HTTP session. With one
chunk per 0.5 s of model work, that gap was as long as the work (a 1-worker sweep against a
200 ms server reached 50 % of concurrency / latency). On one shared loop, a worker with two
threads starts its next chunk while the first drains, and everything loop-bound is shared by
the chunks of the process, as a user's limits mean it:

- the model client's limits (``max_concurrency``, request spacing, its HTTP session) are per
  (client, loop), so per process: a sweep divides them among worker processes, not threads;
- ``verify_slots`` (sandbox runs at once) are per process, as ``verify_concurrency`` says.

The loop thread is a daemon started on first use; a forked child starts its own.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_closers: list[Callable[[], Awaitable[None]]] = []


# Threads for ``asyncio.to_thread`` (sandbox runs, each awaited in a verify slot) on the loop:
# the slots bound them, so the pool must not (asyncio's default pool is cpu + 4 threads).
TO_THREAD_WORKERS = 64


def _start_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(TO_THREAD_WORKERS, thread_name_prefix="patflow-to-thread"))
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    threading.Thread(target=serve, name="patflow-process-loop", daemon=True).start()
    ready.wait()
    return loop


def process_loop() -> asyncio.AbstractEventLoop:
    """This process's loop, started on first use (and again in a forked child)."""
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop, _loop_pid = _start_loop(), os.getpid()
            _closers.clear()
        return _loop


def run_in_process_loop(coroutine: Coroutine[object, object, T]) -> T:
    """Run ``coroutine`` on this process's loop and wait for it here (any thread but the loop's)."""
    loop = process_loop()
    if _running_loop() is loop:
        coroutine.close()
        raise RuntimeError("run_in_process_loop called from the process loop itself; await instead")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


def close_at_exit(closer: Callable[[], Awaitable[None]]) -> None:
    """Await ``closer()`` on the process loop when the interpreter exits (e.g. a model client's
    ``aclose``, so its HTTP sessions close cleanly); each closer once."""
    process_loop()
    with _lock:
        if closer not in _closers:
            _closers.append(closer)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@atexit.register
def _close() -> None:
    loop = _loop
    if loop is None or _loop_pid != os.getpid() or not loop.is_running():
        return

    async def close_all() -> None:
        for closer in list(_closers):
            try:
                await closer()
            except Exception:  # noqa: BLE001 - best effort at exit; nothing is left to report to
                pass
        # Tasks libraries left running on the loop (litellm's logging worker): cancelled and
        # awaited, so none is destroyed pending when the interpreter goes.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    try:
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=10)
    except Exception:  # noqa: BLE001
        pass
    loop.call_soon_threadsafe(loop.stop)
