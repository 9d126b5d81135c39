"""SQLite plumbing for the metadata store: migrations, one connection per thread, and write
transactions that take the lock up front and are retried when another process holds it.

WAL mode lets readers go on while one writer commits, across threads and processes: the
manifest GET path never waits for a push. ``BEGIN IMMEDIATE`` takes the write lock at the start
of a transaction, so one never fails half-way on a lock upgrade; a writer that still finds the
lock taken past the busy timeout backs off and tries again.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from lamina.errors import StorageError
from lamina.registry.metadata.schema import LATEST, VERSION_TABLE, statements, too_new

T = TypeVar("T")
_BUSY_RETRIES = 50


class Database:
    dialect = "sqlite"
    blocking = False  # reads are local and cheap: handlers may run them inline

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self.location = f"sqlite database {self.path}"
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.transact(self._migrate)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(VERSION_TABLE)
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > LATEST:
            raise StorageError(too_new(current, self.path))
        # A database from before versions has migration 1's tables: its IF NOT EXISTS
        # statements leave them be.
        for version in range(current + 1, LATEST + 1):
            for statement in statements(version, self.dialect):
                conn.execute(statement)
        if current < LATEST or not conn.execute("SELECT 1 FROM schema_version").fetchone():
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST,))

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; transactions are explicit)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; fsync happens at checkpoints.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn().execute(sql, params).fetchone()

    def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.conn().execute(sql, params).fetchall()

    def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction: committed if it returns, rolled back if not."""
        with self.write() as conn:
            return fn(conn)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn()
        for attempt in range(_BUSY_RETRIES):
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StorageError(f"metadata database: {exc}") from exc
                time.sleep(min(0.5, 0.01 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.0))
        else:
            raise StorageError("metadata database: still locked after retries")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


__all__ = ["Database"]
