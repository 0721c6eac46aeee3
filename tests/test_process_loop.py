"""tasks.process_loop: one event loop per process, shared by every thread that runs a chunk."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import threading

import pytest

from tasks.process_loop import process_loop, run_in_process_loop


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_every_thread_runs_on_the_one_loop_and_gets_its_result():
    seen: list[asyncio.AbstractEventLoop] = []
    threads = [threading.Thread(target=lambda: seen.append(run_in_process_loop(_running_loop()))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(seen) == 3 and set(seen) == {process_loop()}
    assert process_loop().is_running()


def test_coroutines_from_two_threads_run_at_once():
    """Each waits for the other to have started: on one loop, run one after the other, or on
    loops of their own that each block, they could not both finish."""
    loop = process_loop()
    started = {name: asyncio.Event() for name in ("first", "second")}

    async def meet(mine: str, other: str) -> str:
        started[mine].set()
        await asyncio.wait_for(started[other].wait(), timeout=5)
        return mine

    # asyncio.Event binds to the loop it is first used in; both are used in the process loop.
    results: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda a=a, b=b: results.setdefault(a, run_in_process_loop(meet(a, b))))
        for a, b in (("first", "second"), ("second", "first"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == {"first": "first", "second": "second"}
    assert loop is process_loop()


def test_an_exception_reaches_the_caller_and_the_loop_goes_on():
    async def fail() -> None:
        raise ValueError("from the chunk")

    with pytest.raises(ValueError, match="from the chunk"):
        run_in_process_loop(fail())
    assert run_in_process_loop(_running_loop()) is process_loop()


def test_calling_it_from_the_loop_itself_is_refused_not_a_deadlock():
    async def nested() -> None:
        run_in_process_loop(_running_loop())

    with pytest.raises(RuntimeError, match="from the process loop itself"):
        run_in_process_loop(nested())


def test_a_forked_child_starts_a_loop_of_its_own():
    parent_loop = id(process_loop())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's loop thread does not exist here
        try:
            ok = run_in_process_loop(_running_loop()) is process_loop() and id(process_loop()) != parent_loop
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 10)
    answer = os.read(read, 1) if ready else b""
    if not ready:  # it hung on the parent's loop, which no thread serves in the child
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"1"
