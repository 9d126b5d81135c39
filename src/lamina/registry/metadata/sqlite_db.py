"""SQLite plumbing for the metadata store: the schema, one connection per thread, and write
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lamina.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY, created REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT PRIMARY KEY, size INTEGER NOT NULL, last_used REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repo_blobs (
    repo TEXT NOT NULL, digest TEXT NOT NULL, linked REAL NOT NULL,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repo_blobs_digest ON repo_blobs (digest);
CREATE TABLE IF NOT EXISTS manifests (
    id INTEGER PRIMARY KEY, repo TEXT NOT NULL, digest TEXT NOT NULL,
    media_type TEXT NOT NULL, raw BLOB NOT NULL, subject TEXT, artifact_type TEXT,
    annotations TEXT, pushed REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS manifests_key ON manifests (repo, digest);
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repo, subject)
    WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (repo, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_digest ON tags (repo, digest);
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL, parent TEXT NOT NULL, kind TEXT NOT NULL, child TEXT NOT NULL,
    PRIMARY KEY (repo, parent, kind, child)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_refs_child ON manifest_refs (repo, child);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, "offset" INTEGER NOT NULL, digest TEXT,
    created REAL NOT NULL, updated REAL NOT NULL) WITHOUT ROWID;
"""

_BUSY_RETRIES = 50


class Database:
    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # One transaction, so workers starting together create the schema once.
        self.conn().executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")

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

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on a clean exit, rolled back otherwise."""
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

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent view while writers go on."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


__all__ = ["Database"]
