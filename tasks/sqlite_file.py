"""One SQLite file shared by threads and processes: what the response and verdict caches use.

``SqliteFile.connection()`` gives each thread of each process its own connection (a
connection never crosses a fork), opened in autocommit mode with WAL journaling so that
readers and one writer of many Dask workers proceed together, and a busy timeout long
enough for a sweep's concurrent writers. The file and its directory are created on first
use, with the caller's schema applied (``CREATE TABLE IF NOT EXISTS ...``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

BUSY_TIMEOUT_S = 60.0


class SqliteFile:
    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute(self.schema)
        self._local.connection = connection
        self._local.pid = os.getpid()
        return connection

    def close(self) -> None:
        """Close this thread's connection (if this process opened it)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            connection.close()
        self._local = threading.local()
