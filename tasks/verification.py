"""The bridge from tasks to the sandbox: a program and a ``TestSpec`` in, a ``Verdict`` out.

Guarantees:
- ``verify`` never raises for anything the program does; every outcome is a ``Verdict``.
  ``tests=None`` is ``Verdict(passed=True, status="no_tests", ...)``: the caller (a policy)
  decides what having nothing to check means.
- A timeout is final when the sandbox saw that the program did not wait for a core: it was
  on the CPU (or asleep on its own) for its limit (``ExecutionResult.timeout_starved`` is
  False). A starved timeout (runnable for most of its limit, and waiting for a core for a
  quarter of it or more) or one the sandbox could not account (spawn mode) is re-checked
  once before it counts: the sample runs again while holding a machine-wide lock (one
  re-check at a time across every process on the machine), so a timeout caused by load is
  not recorded as the program's fault. The second verdict is final.
- ``imports`` ("none" | "standard", ``tasks.preamble``) is applied here, where every program
  (a policy's candidate or a scored submission) is handed to the sandbox.
- ``scaled_time_limits`` is re-exported from ``tasks.scoring``, where the one per-test
  time-limit rule lives.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import sandbox
from sandbox.types import (
    NO_TESTS, PASSED, TIMEOUT, CallTests, ExecutionRequest, ExecutionResult, Limits, TestSpec,
)  # fmt: skip
from tasks.preamble import DEFAULT_IMPORTS, with_preamble
from tasks.records import Verdict
from tasks.scoring import TIME_LIMIT_FLOOR_S as DEFAULT_TIME_FLOOR_S, scaled_time_limits  # noqa: F401 - re-exported

RECHECK_LOCK_PATH = Path(tempfile.gettempdir()) / "patflow-timeout-recheck.lock"
_recheck_thread_lock = threading.Lock()


def to_verdict(result: ExecutionResult) -> Verdict:
    first_failure = next((t for t in result.tests if t.status != PASSED), None)
    detail = ""
    if first_failure is not None:
        detail = f"test {first_failure.index}: {first_failure.status}"
        if first_failure.detail:
            detail += f": {first_failure.detail}"
    return Verdict(
        passed=result.status == PASSED,
        status=result.status,
        tests_total=len(result.tests),
        tests_passed=result.tests_passed,
        first_failure=detail[:500],
        duration_ms=result.duration_ms,
        test_statuses=tuple(t.status for t in result.tests),
    )


def _run_at_low_concurrency(request: ExecutionRequest) -> ExecutionResult:
    with _recheck_thread_lock:
        handle = None
        try:
            handle = open(RECHECK_LOCK_PATH, "a+")  # noqa: SIM115
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:
            handle = None  # no lock file: still serialised within this process
        try:
            return sandbox.execute(request)
        finally:
            if handle is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()


def needs_recheck(result: ExecutionResult) -> bool:
    """A timeout that load may have caused: the process waited for a core, or nobody knows."""
    return result.status == TIMEOUT and result.timeout_starved is not False


def verify(
    program: str,
    tests: TestSpec | None,
    time_limits_s: tuple[float, ...] | None = None,
    *,
    limits: Limits | None = None,
    imports: str = DEFAULT_IMPORTS,
) -> Verdict:
    """Run ``program`` (with the ``imports`` preamble) against ``tests``; a starved timeout is
    re-checked once at low concurrency."""
    if tests is None:
        return Verdict(passed=True, status=NO_TESTS, tests_total=0, tests_passed=0)
    request = ExecutionRequest(
        program=with_preamble(program, imports),
        tests=tests,
        limits=limits or Limits(),
        time_limits_s=tuple(time_limits_s) if time_limits_s is not None else None,
    )
    result = sandbox.execute(request)
    if needs_recheck(result) and os.environ.get("PATFLOW_NO_TIMEOUT_RECHECK") != "1":
        result = _run_at_low_concurrency(request)
    return to_verdict(result)


def run_calls(
    program: str,
    tests: CallTests,
    *,
    limits: Limits | None = None,
    imports: str = DEFAULT_IMPORTS,
    stop_at_timeout: bool = False,
) -> tuple[tuple[str, ...], tuple]:
    """Run ``program``'s ``tests.entry_point`` on each input with nothing compared: per input,
    the status (``passed`` when the call returned) and the returned value (``None`` otherwise).
    ``stop_at_timeout``: the inputs after the first timed-out one are not run (``no_result``).
    A timeout is not re-checked (FunCoder's consensus has many; a re-check each doubled the
    demo's consensus sandbox time), so callers must not cache one."""
    if not tests.inputs:
        return (), ()
    request = ExecutionRequest(
        program=with_preamble(program, imports), tests=replace(tests, expected=None),
        limits=limits or Limits(), resume_after_timeout=not stop_at_timeout,
    )
    result = sandbox.execute(request)
    statuses = tuple(t.status for t in result.tests)
    outputs = tuple(result.outputs) if result.outputs is not None else (None,) * len(statuses)
    values = tuple(v if s == PASSED else None for s, v in zip(statuses, outputs))
    return statuses, values
