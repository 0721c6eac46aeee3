"""``execute``: run a candidate program against one test spec; every outcome is a verdict.

The public entry of the parent side. It turns a request into jobs (check-function and assert
tests: a judge job for the test code and a candidate job for the program; call and stdio: one
job), runs them from test to test (``sandbox/watch.py``: the clock, the records, what an
unreported test was), resumes in outputs mode after a test that ended a run, and compares
call and stdio outputs (``sandbox/compare.py``). Jobs start in ``sandbox/launch.py``.

What decides a verdict:
- check_function / asserts: the per-test records of the *judge* job, each starting with a
  per-run nonce. The judge runs the test code; the candidate's program runs in a second job
  that the judge reaches over a socket with plain data only (``sandbox/_child/``), and
  nothing that job writes reaches the record pipe. ``sys.exit(0)`` is ``error:SystemExit``;
  ``os._exit(0)`` or the candidate's process killing itself end the judge without a record,
  and the test is ``no_result`` or ``crashed`` from the candidate's exit status, never ``passed``.
- call / stdio: the child reports outputs only (restricted encoding, never unpickled); the
  parent compares them with expected values the child never saw (``sandbox/codec.py``).

Statuses are those of ``sandbox/types.py``; a sample's status is its first non-passing test's.
After a test ends the run (timeout, crash, output flood) the remaining tests are ``no_result``,
except in outputs mode (``CallTests(expected=None)``) where the run resumes after it so that
every input gets its own outcome (after a timeout only if ``resume_after_timeout``). An
unknown outcome is never ``passed``. A timeout says
whether the process waited for a core (``ExecutionResult.timeout_starved``).
"""

from __future__ import annotations

import functools
import os
import pickle
import threading
import time
from typing import Any

from sandbox import _child
from sandbox.identity_cache import IdentityCache
from sandbox.types import (
    CRASHED,
    NO_RESULT,
    NO_TESTS,
    PASSED,
    TIMEOUT,
    AssertTests,
    CallTests,
    CheckFunctionTests,
    ExecutionRequest,
    ExecutionResult,
    Limits,
    StdioTests,
    TestVerdict,
)
from sandbox.launch import (
    LOAD_FLOOR_S,
)
from sandbox.watch import (
    _RunState,
    _run_child,
    _unreported_verdict,
)
from sandbox.compare import (
    _compare_calls,
    _compare_stdio,
    _output_judge,
)


# --------------------------------------------------------------------------- public entry
def _job_and_count(request: ExecutionRequest) -> tuple[dict, int]:
    tests = request.tests
    limits = request.limits
    job: dict[str, Any] = {"program": request.program, "output_bytes": limits.output_bytes}
    if isinstance(tests, CheckFunctionTests):
        names = _names_used((tests.test_code,), tests.entry_point)
        return {
            "kind": "check_function",
            "test_code": _precompiled(tests.test_code, "<test>"),
            "entry_point": tests.entry_point,
            "helpers": tests.helpers,
            "names": names,
            "batch": _check_plan(tests.test_code),
            "candidate": _candidate_job(request, names),
        }, 1
    if isinstance(tests, AssertTests):
        names = _names_used(tests.asserts, tests.entry_point)
        return {
            "kind": "asserts",
            "asserts": tuple(_precompiled(source, f"<test {i}>") for i, source in enumerate(tests.asserts)),
            "imports": tests.imports,
            "helpers": tests.helpers,
            "entry_point": tests.entry_point,
            "names": names,
            "batch": _asserts_plan(tests.asserts, tests.entry_point),
            "candidate": _candidate_job(request, names, setup_code=tests.setup_code, imports=tests.imports),
        }, len(tests.asserts)
    if isinstance(tests, CallTests):
        if tests.expected is not None and len(tests.expected) != len(tests.inputs):
            raise ValueError(f"CallTests: {len(tests.inputs)} inputs but {len(tests.expected)} expected outputs")
        inputs = _pickled_inputs(tests)
        # With expected values, large outputs cross packed or as digests (outputs mode needs them whole).
        job.update(kind="call", entry_point=tests.entry_point, inputs=inputs, compact_large=tests.expected is not None)
        return job, len(tests.inputs)
    if isinstance(tests, StdioTests):
        job.update(kind="stdio", stdins=tuple(stdin for stdin, _ in tests.cases))
        return job, len(tests.cases)
    raise TypeError(f"unknown test spec {type(tests).__name__}")


def _candidate_job(request: ExecutionRequest, names: tuple[str, ...], setup_code: str = "", imports: str = "") -> dict:
    """What the candidate's process gets: its program and the names to describe; no test code."""
    return {
        "kind": "candidate",
        "program": request.program,
        "setup_code": setup_code,
        "imports": imports,
        "names": names,
        "output_bytes": request.limits.output_bytes,
    }


_BUILTIN_NAMES = frozenset(dir(__import__("builtins")))


@functools.lru_cache(maxsize=1024)
def _names_used(sources: tuple[str, ...], entry_point: str) -> tuple[str, ...]:
    """Names the test code reads that the program may define: asked of the candidate.

    Builtins are the judge's own (a program's ``len`` never stands in for the test's), except
    the entry point itself. Unparsable test code asks for nothing (it fails as such).
    """
    import ast

    names = {entry_point} if entry_point else set()
    for source in sources:
        try:
            with _COMPILE_LOCK:
                tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        names.update(node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load))
    return tuple(sorted(name for name in names if name == entry_point or name not in _BUILTIN_NAMES))


_pickled_inputs_cache: IdentityCache[tuple[bytes, ...]] = IdentityCache(max_entries=256)


def _pickled_inputs(tests: CallTests) -> tuple[bytes, ...]:
    """Each input pickled once per CallTests object: every sample of a problem shares them."""
    return _pickled_inputs_cache.get(
        tests, lambda t: tuple(pickle.dumps(tuple(args), protocol=pickle.HIGHEST_PROTOCOL) for args in t.inputs)
    )


# The caches of test code below (compiled, planned, names read) serve the samples and seeds of
# the items in flight, which share their tests; 1,024 entries each hold that working set.
# CPython 3.11's parser is not safe to enter from several threads at once: concurrent
# ast.parse calls fail with "SystemError: AST constructor recursion depth mismatch"
# (seen here in a sweep; fixed upstream in later releases). execute() runs in many threads.
_COMPILE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1024)
def _precompiled(source: str, filename: str) -> bytes | tuple[str, str]:
    """Test code is trusted: rewrite and compile it once here, ship the marshalled code."""
    with _COMPILE_LOCK:
        compiled = _child.precompile_test_code(source, filename)
    return compiled if isinstance(compiled, bytes) else ("error", compiled)


# Predictable candidate calls of a judged test go as one batch (``sandbox/_child/child_plan.py``);
# PATFLOW_SANDBOX_BATCH=0 (or setting this to False) sends every call as its own round trip.
BATCH_CALLS = os.environ.get("PATFLOW_SANDBOX_BATCH", "1") != "0"


def _check_plan(source: str) -> dict | None:
    return _planned_check(source) if BATCH_CALLS else None


def _asserts_plan(sources: tuple[str, ...], entry_point: str) -> dict | None:
    return _planned_asserts(sources, entry_point) if BATCH_CALLS else None


@functools.lru_cache(maxsize=1024)
def _planned_check(source: str) -> dict | None:
    with _COMPILE_LOCK:
        return _child.plan_check(source)


@functools.lru_cache(maxsize=1024)
def _planned_asserts(sources: tuple[str, ...], entry_point: str) -> dict | None:
    with _COMPILE_LOCK:
        return _child.plan_asserts(sources, entry_point)


def _limits_payload(limits: Limits, time_limits_s: list[float]) -> dict:
    cpu_s = limits.cpu_s
    if cpu_s is None:
        cpu_s = max(limits.timeout_s, LOAD_FLOOR_S) + sum(time_limits_s) + 1.0
    return {
        "cpu_s": cpu_s,
        "memory_mb": limits.memory_mb,
        "max_processes": limits.max_processes,
        "file_size_mb": limits.file_size_mb,
        "open_files": limits.open_files,
    }


def execute(request: ExecutionRequest) -> ExecutionResult:
    """Run ``request.program`` against ``request.tests``; every outcome is a verdict."""
    started = time.perf_counter()
    job, total = _job_and_count(request)
    limits = request.limits
    if request.time_limits_s is not None:
        if len(request.time_limits_s) != total:
            raise ValueError(f"time_limits_s has {len(request.time_limits_s)} entries for {total} tests")
        time_limits_s = [float(t) for t in request.time_limits_s]
    else:
        time_limits_s = [float(limits.timeout_s)] * total
    tests = request.tests
    outputs_mode = isinstance(tests, CallTests) and tests.expected is None
    if total == 0:
        return ExecutionResult(NO_TESTS, (), (time.perf_counter() - started) * 1000, () if outputs_mode else None)
    job["limits"] = _limits_payload(limits, time_limits_s)
    if "candidate" in job:
        job["candidate"]["limits"] = job["limits"]

    job["stop_on_first_failure"] = request.stop_on_first_failure
    judged: dict[int, bool] = {}
    judge_on_arrival = request.stop_on_first_failure or (isinstance(tests, CallTests) and tests.expected is not None)
    passes = _output_judge(tests, judged) if judge_on_arrival else None
    verdicts: dict[int, TestVerdict] = {}
    outputs: dict[int, Any] = {}
    timeout_account = None
    first = 0
    while first < total:
        state = _run_child(job, first, time_limits_s, limits, passes, request.stop_on_first_failure)
        verdicts.update(state.verdicts)
        outputs.update(state.outputs)
        if state.setup_error is not None:
            for index in range(first, total):
                verdicts[index] = TestVerdict(index, CRASHED, "sandbox set-up failed: " + state.setup_error)
            break
        if state.load_failure is not None:
            status, detail = state.load_failure
            for index in range(first, total):
                verdicts[index] = TestVerdict(index, status, detail)
            break
        if state.stop_reason == "first_failure" or (request.stop_on_first_failure and _has_failure(state)):
            for index in range(state.next_index, total):
                verdicts[index] = TestVerdict(index, NO_RESULT, "not run: stopped after the first failure")
            break
        if state.next_index >= total:
            break
        stopped_at = state.next_index
        verdicts[stopped_at] = _unreported_verdict(state, stopped_at, time_limits_s, limits)
        if verdicts[stopped_at].status == TIMEOUT and timeout_account is None:
            timeout_account = _timeout_account(state)
        if outputs_mode and (request.resume_after_timeout or verdicts[stopped_at].status != TIMEOUT):
            first = stopped_at + 1
            continue
        for index in range(stopped_at + 1, total):
            verdicts[index] = TestVerdict(index, NO_RESULT, f"not run: test {stopped_at} ended the run")
        break

    ordered = [verdicts[i] for i in range(total)]
    result_outputs = None
    if isinstance(tests, CallTests):
        ordered = _compare_calls(tests, ordered, outputs, judged)
        if outputs_mode:
            result_outputs = tuple(outputs.get(i) for i in range(total))
    elif isinstance(tests, StdioTests):
        ordered = _compare_stdio(tests, ordered, outputs)
    status = next((v.status for v in ordered if v.status != PASSED), PASSED)
    starved, cpu_s, wait_s = timeout_account or (None, None, None)
    return ExecutionResult(
        status,
        tuple(ordered),
        (time.perf_counter() - started) * 1000,
        result_outputs,
        timeout_starved=starved,
        timeout_cpu_s=cpu_s,
        timeout_wait_s=wait_s,
    )


# A timed-out job that was runnable (on a core or waiting for one) for most of its test's limit
# and waited for a core for a real share of it may have timed out because of load: the caller
# may re-check it. One that did not was computing with a core to itself, or sleeping or
# blocked on its own: the timeout is its own. Both over the job's whole life (schedstat).
STARVED_RUNNABLE_FRACTION = 0.75
STARVED_WAIT_FRACTION = 0.25


def _timeout_account(state: _RunState) -> tuple[bool | None, float | None, float | None]:
    """(starved?, CPU seconds, run-queue seconds) of the process that timed out; None: unknown."""
    if state.stop_reason != "timeout":
        # The CPU rlimit (SIGXCPU): the whole CPU budget was spent computing.
        return False, None, None
    if state.wait_s is None:
        return None, None, None  # spawn mode: the keeper's schedule is not read
    limit_s = state.timeout_limit_s
    runnable_s = state.cpu_s + state.wait_s
    starved = state.wait_s >= STARVED_WAIT_FRACTION * limit_s and runnable_s >= STARVED_RUNNABLE_FRACTION * limit_s
    return starved, state.cpu_s, state.wait_s


def _has_failure(state: _RunState) -> bool:
    return any(v.status != PASSED for v in state.verdicts.values())


