"""Facts about a dataset that only running its reference solutions can give, computed once.

Loaders describe what they need as ``ReferenceJob``s (a reference program and a test spec);
``run_reference_jobs`` executes them in the sandbox (never in this process: reference code is
data too), in parallel, and returns one ``ReferenceRun`` per job: each test's status, the
returned outputs (for ``CallTests`` with ``expected=None``) and each test's duration.

Results are cached on disk, one file per (dataset name, content sha256), each run under its
job key plus a hash of the program and tests it ran: only the first load of a file pays for
execution, and a loader change recomputes only the jobs it alters. Each run records the
sandbox source fingerprint it ran under; when the sandbox changes, runs with a non-passing
test are redone (the failure may have been the sandbox's), passing ones are kept. Cache files are pickles in the user's own cache directory
(``PATFLOW_DATASET_CACHE_DIR`` or ``~/.cache/patflow``); writes are atomic (temp file, fsync, rename).
A corrupt or unreadable cache file is ignored and rebuilt, never trusted partially.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import logging
import os
import pickle
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from sandbox.types import MEMORY_EXCEEDED, OUTPUT_LIMIT, PASSED, TIMEOUT, CallTests, ExecutionRequest, ExecutionResult, Limits, TestSpec

from tasks.benchmarks.sources import user_cache_dir
from tasks.scoring import scaled_time_limits, test_count  # the one per-test time-limit rule

LOADER_VERSION = 10  # bump when a loader changes the Problems it builds (whole-benchmark cache)
CALL_CHUNK_SIZE = 250  # inputs per sandbox run when computing outputs of a large suite
REFERENCE_TIMEOUT_S = 60.0  # per test, generous: ground truth must not be lost to a slow machine
# An expected output bigger than this (pickled) is not kept: the input is dropped from its suite.
# A handful of EvalPlus inputs produce 10-360 MB outputs (HumanEval/15 and /130, Mbpp/255);
# shipping those between processes on every verification would dominate a sweep's cost.
MAX_EXPECTED_OUTPUT_BYTES = 1_000_000
OUTPUT_TOO_LARGE = "output_too_large"
FINAL_STATUSES = {PASSED, TIMEOUT, OUTPUT_LIMIT, MEMORY_EXCEEDED, OUTPUT_TOO_LARGE}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceJob:
    key: str  # unique within a dataset, e.g. "HumanEval/0/plus"
    program: str
    tests: TestSpec


@dataclass(frozen=True)
class ReferenceRun:
    statuses: tuple[str, ...]
    outputs: tuple[Any, ...] | None
    durations_s: tuple[float, ...]
    sandbox_fingerprint: str = ""  # the sandbox source that produced it

    def stale(self) -> bool:
        """Redo a run when the sandbox changed and a test ended in a way a sandbox bug could
        explain (no result, crash, error, failed comparison). Passing outputs are data and
        stay valid; resource outcomes (timeout, output or memory limits) are the reference's
        own cost and are not re-paid on every sandbox edit."""
        return self.sandbox_fingerprint != sandbox_fingerprint() and any(
            status not in FINAL_STATUSES for status in self.statuses
        )

    def passed(self, index: int) -> bool:
        return self.statuses[index] == PASSED

    def time_limits_s(self, indexes: list[int]) -> tuple[float, ...]:
        return scaled_time_limits([self.durations_s[i] for i in indexes])


Executor = Callable[[ExecutionRequest], ExecutionResult]


def default_executor() -> Executor:
    import sandbox

    return sandbox.execute


def run_reference_jobs(
    dataset_key: str, jobs: list[ReferenceJob], executor: Executor | None = None
) -> dict[str, ReferenceRun]:
    """One ``ReferenceRun`` per job key, from the cache when possible."""
    cache_path = _cache_path(dataset_key)
    cached = _read_cache(cache_path)
    # A job is cached under its key and the hash of what it runs, so a loader change that
    # alters one job's program or inputs recomputes exactly that job.
    content_keys = {job.key: f"{job.key}#{_job_digest(job)}" for job in jobs}
    missing = [
        job for job in jobs if content_keys[job.key] not in cached or cached[content_keys[job.key]].stale()
    ]
    if missing:
        run = executor or default_executor()
        workers = max(1, min(len(missing), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for job, result in zip(missing, pool.map(lambda job: _run_job(job, run), missing)):
                cached[content_keys[job.key]] = replace(result, sandbox_fingerprint=sandbox_fingerprint())
        _write_cache(cache_path, {key: cached[key] for key in content_keys.values()})
    return {job.key: cached[content_keys[job.key]] for job in jobs}


def _job_digest(job: ReferenceJob) -> str:
    try:
        payload = pickle.dumps((job.program, job.tests), protocol=4)
    except Exception:  # noqa: BLE001 - unpicklable test data: fall back to its repr
        payload = repr((job.program, job.tests)).encode()
    return hashlib.sha256(payload).hexdigest()[:20]


def _run_job(job: ReferenceJob, run: Executor) -> ReferenceRun:
    tests = job.tests
    if isinstance(tests, CallTests) and len(tests.inputs) > CALL_CHUNK_SIZE:
        parts = [
            _run_once(job.program, replace(tests, inputs=tests.inputs[start : start + CALL_CHUNK_SIZE],
                                           expected=None if tests.expected is None
                                           else tests.expected[start : start + CALL_CHUNK_SIZE]), run)
            for start in range(0, len(tests.inputs), CALL_CHUNK_SIZE)
        ]
        outputs = None
        if tests.expected is None:
            outputs = tuple(value for part in parts for value in (part.outputs or ()))
        return ReferenceRun(
            tuple(s for part in parts for s in part.statuses),
            outputs,
            tuple(d for part in parts for d in part.durations_s),
        )
    return _run_once(job.program, tests, run)


def _run_once(program: str, tests: TestSpec, run: Executor) -> ReferenceRun:
    count = test_count(tests)
    result = run(
        ExecutionRequest(
            program=program,
            tests=tests,
            limits=Limits(timeout_s=REFERENCE_TIMEOUT_S, memory_mb=4096),
        )
    )
    statuses = ["no_result"] * count
    durations = [0.0] * count
    for verdict in result.tests:
        if 0 <= verdict.index < count:
            statuses[verdict.index] = verdict.status
            durations[verdict.index] = verdict.duration_ms / 1000.0
    outputs = None
    if isinstance(tests, CallTests) and tests.expected is None:
        returned = list(result.outputs or ())
        returned += [None] * (count - len(returned))
        for index, value in enumerate(returned):
            if index >= len(result.outputs or ()):
                statuses[index] = "no_result"
            elif statuses[index] == PASSED and _pickled_size(value) > MAX_EXPECTED_OUTPUT_BYTES:
                statuses[index], returned[index] = OUTPUT_TOO_LARGE, None
        outputs = tuple(returned)
    return ReferenceRun(tuple(statuses), outputs, tuple(durations))


def _pickled_size(value: Any) -> int:
    try:
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - an unpicklable output cannot be an expected value
        return MAX_EXPECTED_OUTPUT_BYTES + 1


def sandbox_fingerprint() -> str:
    """Hash of the sandbox's source: cached reference runs are rebuilt when the sandbox changes."""
    global _SANDBOX_FINGERPRINT
    if _SANDBOX_FINGERPRINT is None:
        spec = importlib.util.find_spec("sandbox")  # locate without importing (no fork server)
        digest = hashlib.sha256()
        for path in sorted(Path(spec.origin).resolve().parent.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        _SANDBOX_FINGERPRINT = digest.hexdigest()[:16]
    return _SANDBOX_FINGERPRINT


_SANDBOX_FINGERPRINT: str | None = None


# Bump when a sandbox change can alter what a *passing* run returned (such runs are otherwise
# kept across sandbox edits): 2 = children run with a fixed hash seed, so set order is stable.
REFERENCE_RUNS_VERSION = 2


def _cache_path(dataset_key: str) -> Path:
    safe = hashlib.sha256(dataset_key.encode()).hexdigest()[:24]
    return user_cache_dir() / "benchmarks" / f"reference-runs-v{REFERENCE_RUNS_VERSION}-{safe}.pkl"


def _read_cache(path: Path) -> dict[str, ReferenceRun]:
    value = read_pickle(path)
    return value if isinstance(value, dict) else {}


def read_pickle(path: Path) -> Any:
    """The cached object, or None when absent or unreadable (then it is rebuilt)."""
    collecting = gc.isenabled()
    gc.disable()  # unpickling ~10^5 small containers is ~3x faster without GC passes
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as error:  # a torn or foreign file: rebuild rather than trust it
        log.warning("ignoring unreadable benchmark cache %s (%s)", path, error)
        return None
    finally:
        if collecting:
            gc.enable()


def write_pickle(path: Path, value: Any) -> None:
    _write_cache(path, value)


def _write_cache(path: Path, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:  # a read-only cache dir costs speed, not correctness
        log.warning("cannot write benchmark cache %s (%s)", path, error)
