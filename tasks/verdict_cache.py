"""Verdicts remembered by what decides them, so an identical sweep runs no sandbox twice.

``CachedVerifier`` wraps ``tasks.verification.verify``: before running a program it looks up
the verdict of the same (program, tests, per-test time limits, sandbox limits, sandbox version)
and returns it without executing anything; after a run it stores the verdict.

Guarantees:
- The key hashes everything that can change a verdict: the program text, the test suite (its
  ``repr``: plain strings, numbers and tuples, so equal suites hash alike in every process), the
  per-test time limits, the ``Limits``, and the *sandbox version* — a hash of the source of the
  ``sandbox`` package and of ``tasks/verification.py``, so any change to how programs run or how
  results become verdicts starts a fresh cache instead of serving old answers.
- Only final verdicts are stored: ``crashed`` and ``no_result`` (the sandbox itself failing, not
  the program) are never cached, so a flaky machine does not fix a wrong answer in place. A
  ``timeout`` *is* cached: ``verify`` has already re-checked it at low concurrency, and paying each
  timeout once is the point.
- The first writer of a key wins (``INSERT OR IGNORE``): a key's verdict never changes.
- Call outputs (``run_calls``: FunCoder's consensus inputs) are remembered the same way, under
  a key that adds ``calls`` and whether the run stops at a timeout; their values are stored in
  the sandbox's own tagged encoding and read back with ``sandbox.codec.decode`` (nothing is
  unpickled). A run with a ``crashed``, ``no_result`` or ``timeout`` input is not stored (call
  runs' timeouts are not re-checked against load); nor is a value the encoding cannot hold.
- One SQLite file (``verdicts.sqlite3``) in WAL mode in the response cache's directory: several
  Dask worker processes share it; each thread of each process opens its own connection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import sqlite3
import threading
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from sandbox.identity_cache import IdentityCache
from sandbox.types import CRASHED, NO_RESULT, TIMEOUT, Limits, TestSpec
from tasks.records import Verdict
from tasks.sqlite_file import SqliteFile

VERDICTS_FILE_NAME = "verdicts.sqlite3"
_NOT_CACHED = frozenset({CRASHED, NO_RESULT})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    verdict_key TEXT PRIMARY KEY,
    verdict_json TEXT NOT NULL
)
"""


@lru_cache(maxsize=1)
def sandbox_version() -> str:
    """A hash of the code that turns a program into a verdict."""
    import sandbox
    import tasks.preamble
    import tasks.verification

    digest = hashlib.sha256()
    root = Path(sandbox.__file__).parent
    sources = sorted(root.rglob("*.py")) + [Path(tasks.verification.__file__), Path(tasks.preamble.__file__)]
    for path in sources:
        digest.update(str(path.relative_to(path.parents[1])).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


_tests_digests: IdentityCache[str] = IdentityCache(max_entries=1024)


def _tests_digest(tests: TestSpec) -> str:
    # A suite object is shared by every sample of a problem: hash its (possibly large) repr once.
    return _tests_digests.get(tests, lambda owner: hashlib.sha256(repr(owner).encode()).hexdigest())


def verdict_key(
    program: str,
    tests: TestSpec | None,
    time_limits_s: tuple[float, ...] | None,
    limits: Limits | None = None,
    imports: str = "none",
) -> str:
    parts = {
        "imports": imports,
        "sandbox": sandbox_version(),
        "program": hashlib.sha256(program.encode()).hexdigest(),
        "tests": None if tests is None else _tests_digest(tests),
        "time_limits_s": None if time_limits_s is None else [float(t) for t in time_limits_s],
        "limits": asdict(limits or Limits()),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class VerdictCache:
    """Verdicts by key in one SQLite file under ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / VERDICTS_FILE_NAME
        self._file = SqliteFile(self.path, _SCHEMA)

    def __getstate__(self) -> dict:
        return {"directory": str(self.directory)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["directory"])

    def _connection(self) -> sqlite3.Connection:
        return self._file.connection()

    def _stored(self, key: str):
        row = self._connection().execute(
            "SELECT verdict_json FROM verdicts WHERE verdict_key = ?", (key,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def _store(self, key: str, document) -> None:
        self._connection().execute("INSERT OR IGNORE INTO verdicts VALUES (?, ?)", (key, json.dumps(document)))

    def get(self, key: str) -> Verdict | None:
        fields = self._stored(key)
        if fields is None:
            return None
        fields["test_statuses"] = tuple(fields.get("test_statuses", ()))
        return Verdict(**fields)

    def put(self, key: str, verdict: Verdict) -> None:
        if verdict.status in _NOT_CACHED:
            return
        self._store(key, asdict(verdict))

    def get_calls(self, key: str) -> tuple[tuple[str, ...], tuple] | None:
        stored = self._stored(key)
        if stored is None:
            return None
        from sandbox.codec import MalformedOutput, decode

        try:
            return tuple(stored["statuses"]), tuple(decode(value) for value in stored["values"])
        except (MalformedOutput, KeyError, TypeError):
            return None  # not a call record: run again

    def put_calls(self, key: str, statuses: tuple[str, ...], values: tuple) -> None:
        if not _storable_calls(statuses):
            return
        try:
            stored = {"statuses": list(statuses), "values": [_encode(value) for value in values]}
        except _NotStorable:
            return
        self._store(key, stored)

    def entries(self) -> int:
        if not self.path.exists():
            return 0
        return int(self._connection().execute("SELECT count(*) FROM verdicts").fetchone()[0])


def _encode(value, depth: int = 0):
    """A decoded call output in ``sandbox.codec``'s tagged JSON (its ``decode`` reads it back)."""
    if depth > 200:
        raise _NotStorable
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else ["f", "nan" if value != value else ("inf" if value > 0 else "-inf")]
    tag = {list: "l", tuple: "t", set: "s", frozenset: "z"}.get(kind)
    if tag:
        return [tag, [_encode(item, depth + 1) for item in value]]
    if kind is dict:
        return ["d", [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]]
    if kind in (bytes, bytearray):
        return ["b" if kind is bytes else "y", base64.b64encode(bytes(value)).decode()]
    if kind is complex:
        return ["c", _encode(value.real, depth + 1), _encode(value.imag, depth + 1)]
    raise _NotStorable


class _NotStorable(Exception):
    pass


def _storable_calls(statuses: tuple[str, ...]) -> bool:
    # A call run's timeout is not re-checked against load (``run_calls``): never kept.
    return not ({CRASHED, NO_RESULT, TIMEOUT} & set(statuses))


def _calls_key(program, tests, limits: Limits | None, imports: str, stop_at_timeout: bool) -> str:
    verdict = verdict_key(program, tests, None, limits, imports)
    return hashlib.sha256(f"calls\0{int(stop_at_timeout)}\0{verdict}".encode()).hexdigest()


class CachedVerifier:
    """``verify`` with a verdict cache in front; counts what it ran and what it served."""

    def __init__(self, cache: VerdictCache, verify=None) -> None:
        if verify is None:
            from tasks.verification import verify
        self.cache = cache
        self._verify = verify
        self.executions = 0
        self.hits = 0
        self._lock = threading.Lock()

    def __call__(
        self, program, tests, time_limits_s=None, *, limits: Limits | None = None, imports: str = "none"
    ) -> Verdict:
        if tests is None:  # nothing runs: not worth a lookup
            return self._verify(program, tests, time_limits_s=time_limits_s, limits=limits, imports=imports)
        key = verdict_key(program, tests, time_limits_s, limits, imports)
        cached = self._hit(key)
        if cached is not None:
            return cached
        verdict = self._verify(program, tests, time_limits_s=time_limits_s, limits=limits, imports=imports)
        with self._lock:
            self.executions += 1
        self.cache.put(key, verdict)
        return verdict

    def lookup(
        self, program, tests, time_limits_s=None, *, limits: Limits | None = None, imports: str = "none"
    ) -> Verdict | None:
        """The cached verdict, or None; runs nothing (cheap enough for an event loop)."""
        if tests is None:
            return None
        return self._hit(verdict_key(program, tests, time_limits_s, limits, imports))

    def lookup_calls(
        self, program, tests, *, limits: Limits | None = None, imports: str = "none", stop_at_timeout: bool = False
    ) -> tuple[tuple[str, ...], tuple] | None:
        """``run_calls``' cached statuses and values, or None; runs nothing (as ``lookup``)."""
        if not tests.inputs:
            return (), ()
        return self._calls_hit(_calls_key(program, tests, limits, imports, stop_at_timeout))

    def _calls_hit(self, key: str) -> tuple[tuple[str, ...], tuple] | None:
        cached = self.cache.get_calls(key)
        if cached is not None:
            with self._lock:
                self.hits += 1
        return cached

    def _hit(self, key: str) -> Verdict | None:
        cached = self.cache.get(key)
        if cached is not None:
            with self._lock:
                self.hits += 1
        return cached

    def run_calls(
        self, program, tests, *, limits: Limits | None = None, imports: str = "none", stop_at_timeout: bool = False
    ) -> tuple[tuple[str, ...], tuple]:
        """``tasks.verification.run_calls`` with the same cache in front."""
        from tasks.verification import run_calls

        if not tests.inputs:
            return (), ()
        key = _calls_key(program, tests, limits, imports, stop_at_timeout)
        cached = self._calls_hit(key)
        if cached is not None:
            return cached
        statuses, values = run_calls(program, tests, limits=limits, imports=imports, stop_at_timeout=stop_at_timeout)
        with self._lock:
            self.executions += 1
        self.cache.put_calls(key, statuses, values)
        return statuses, values
