"""The response cache: successful model completions on disk, shared across runs and policies.

Keyed by ``ModelRequest.cache_key(model)`` (model, messages, temperature, max_tokens, seed,
sample index — never timeouts, retries or concurrency), so a PaT trial reuses the ``standard``
generation for the same (model, prompt, seed) and a repeated sweep costs nothing.

Guarantees:
- One SQLite file (``responses.sqlite3``) in WAL mode with a 60 s busy timeout: several Dask
  worker processes (and threads) may read and write it at once; each thread of each process
  opens its own connection (reopened after a fork).
- Only successful completions are stored; the first writer of a key wins, so a key's answer
  never changes once written (``INSERT OR IGNORE``).
- Stored: the key, the model string, the response text and the token counts as the provider
  reported them. Never an API key, an api_base or any request header.
- Location: ``--cache-dir`` / ``PATFLOW_CACHE_DIR``, else ``data/cache`` under the current
  directory (beside the default run store ``data/runs``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.sqlite_file import SqliteFile

CACHE_DIR_ENV = "PATFLOW_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("data") / "cache"
CACHE_FILE_NAME = "responses.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    cache_key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    created_at_s REAL NOT NULL
)
"""


def default_cache_dir() -> Path:
    """``PATFLOW_CACHE_DIR`` if set, else ``data/cache`` relative to the current directory."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured) if configured else DEFAULT_CACHE_DIR


@dataclass(frozen=True)
class CachedResponse:
    text: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class ModelCacheStats:
    model: str
    entries: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class CacheStats:
    path: str
    entries: int
    size_bytes: int  # the database file plus its WAL and shared-memory files
    by_model: tuple[ModelCacheStats, ...]


class ResponseCache:
    """Successful completions by cache key, in one SQLite file under ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / CACHE_FILE_NAME
        self._file = SqliteFile(self.path, _SCHEMA)

    # Pickled into Dask workers as the directory only; connections are opened where used.
    def __getstate__(self) -> dict:
        return {"directory": str(self.directory)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["directory"])

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r})"

    def _connection(self) -> sqlite3.Connection:
        return self._file.connection()

    def get(self, cache_key: str) -> CachedResponse | None:
        row = (
            self._connection()
            .execute(
                "SELECT text, input_tokens, output_tokens FROM responses WHERE cache_key = ?",
                (cache_key,),
            )
            .fetchone()
        )
        return CachedResponse(row[0], int(row[1]), int(row[2])) if row else None

    def put(
        self, cache_key: str, model: str, text: str, input_tokens: int, output_tokens: int
    ) -> None:
        self._connection().execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (cache_key, model, text, int(input_tokens), int(output_tokens), time.time()),
        )

    def stats(self) -> CacheStats:
        if not self.path.exists():
            return CacheStats(str(self.path), 0, 0, ())
        rows = (
            self._connection()
            .execute(
                "SELECT model, count(*), sum(input_tokens), sum(output_tokens) "
                "FROM responses GROUP BY model ORDER BY model"
            )
            .fetchall()
        )
        by_model = tuple(ModelCacheStats(m, int(n), int(i or 0), int(o or 0)) for m, n, i, o in rows)
        size_bytes = sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )
        return CacheStats(str(self.path), sum(m.entries for m in by_model), size_bytes, by_model)

    def clear(self, model: str | None = None) -> int:
        """Delete all entries (or one model's); returns how many were deleted."""
        if not self.path.exists():
            return 0
        connection = self._connection()
        if model is None:
            deleted = connection.execute("DELETE FROM responses").rowcount
        else:
            deleted = connection.execute("DELETE FROM responses WHERE model = ?", (model,)).rowcount
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
        return int(deleted)

    def close(self) -> None:
        self._file.close()
