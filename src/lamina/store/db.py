"""The store's metadata database: SQLite in WAL mode, shared by every lamina process.

Concurrency: readers never block in WAL mode. Every write runs in a ``BEGIN IMMEDIATE``
transaction, which takes the write lock up front, so a transaction can never fail half-way
because another process wrote first (a deferred transaction upgrading its read lock can, and
no busy timeout helps then). Taking that lock waits in SQLite's busy handler and, beyond it,
in our own retry loop with jittered backoff, so "database is locked" never reaches a user.

Schema changes are numbered migrations, recorded in ``schema_migrations`` and mirrored in
``PRAGMA user_version`` so opening an up-to-date store costs one cheap read.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from lamina.errors import StorageError

T = TypeVar("T")

# How long a writer waits for the lock in all before giving up with a clear error.
LOCK_WAIT = 300.0
# SQLite's own busy handler wait, per attempt, before our retry loop takes over.
BUSY_TIMEOUT = 5.0

MIGRATIONS: tuple[str, ...] = (
    # 1: images, their layers, names and manifests; a placeholder for containers.
    """
    CREATE TABLE images (
        id              TEXT PRIMARY KEY,      -- sha256 of the config bytes (the config blob)
        manifest_digest TEXT NOT NULL,         -- the manifest blob this image was added with
        manifest_media_type TEXT NOT NULL,
        created         TEXT,                  -- config "created", RFC 3339, as given
        size            INTEGER NOT NULL,      -- sum of the layers' unpacked sizes
        parent          TEXT REFERENCES images(id) ON DELETE SET NULL,
        added           REAL NOT NULL,         -- when it entered this store (epoch seconds)
        os              TEXT,
        architecture    TEXT,
        variant         TEXT,
        labels          TEXT NOT NULL DEFAULT '{}'  -- config Labels as JSON, for filters
    );
    CREATE INDEX images_parent ON images(parent);
    -- One row per unpacked layer (snapshot), shared by every image that has it.
    CREATE TABLE layers (
        chain_id        TEXT PRIMARY KEY,
        diff_id         TEXT NOT NULL,
        parent_chain_id TEXT,
        unpacked_size   INTEGER NOT NULL,
        digest          TEXT NOT NULL,         -- the compressed blob first seen for it
        media_type      TEXT NOT NULL,
        size            INTEGER NOT NULL
    );
    -- An image's layers in order, with the compressed blob its manifest names.
    CREATE TABLE image_layers (
        image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        chain_id   TEXT NOT NULL REFERENCES layers(chain_id),
        digest     TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size       INTEGER NOT NULL,
        PRIMARY KEY (image_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX image_layers_chain ON image_layers(chain_id);
    CREATE INDEX image_layers_digest ON image_layers(digest);
    CREATE TABLE tags (
        repository TEXT NOT NULL,              -- normalised: docker.io/library/nginx
        tag        TEXT NOT NULL,
        image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        updated    REAL NOT NULL,
        PRIMARY KEY (repository, tag)
    ) WITHOUT ROWID;
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE repo_digests (
        repository TEXT NOT NULL,
        digest     TEXT NOT NULL,              -- manifest (or index) digest in that repository
        image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        PRIMARY KEY (repository, digest)
    ) WITHOUT ROWID;
    CREATE INDEX repo_digests_image ON repo_digests(image_id);
    -- Manifests (and indexes) kept for an image: the one it was added with, and others that
    -- name the same config (another compression, a platform entry of a pulled index).
    CREATE TABLE manifests (
        digest     TEXT PRIMARY KEY,
        media_type TEXT NOT NULL,
        size       INTEGER NOT NULL,
        image_id   TEXT REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX manifests_image ON manifests(image_id);
    -- Placeholder for the containers work: enough for gc and rmi to see what is in use.
    CREATE TABLE containers (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
        created  REAL NOT NULL,
        state    TEXT NOT NULL DEFAULT 'created',
        config   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX containers_image ON containers(image_id);
    """,
    # 2: what a container's monitor keeps current (lamina.store.containers).
    """
    ALTER TABLE containers ADD COLUMN image_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE containers ADD COLUMN pid INTEGER;           -- the container's init, on the host
    ALTER TABLE containers ADD COLUMN monitor_pid INTEGER;   -- lamina's monitor of it
    ALTER TABLE containers ADD COLUMN exit_code INTEGER;
    ALTER TABLE containers ADD COLUMN started REAL;          -- epoch seconds
    ALTER TABLE containers ADD COLUMN finished REAL;
    ALTER TABLE containers ADD COLUMN error TEXT NOT NULL DEFAULT '';
    ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX containers_created ON containers(created);
    """,
    # 3: what lamina commands did, for `lamina events` (lamina.store.events): one row each, in
    # the order they were recorded (seq), with docker's event fields.
    """
    CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        time_nano  INTEGER NOT NULL,           -- when, in nanoseconds since the epoch
        type       TEXT NOT NULL,              -- container, image, volume, network, builder...
        action     TEXT NOT NULL,              -- create, start, die, pull, tag, delete...
        actor_id   TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '{}', -- the actor's attributes as a JSON object
        scope      TEXT NOT NULL DEFAULT 'local'
    );
    CREATE INDEX events_time ON events(time_nano);
    """,
    # 4: build's layer cache: a step's cache key -> the image it made; rows go with their image.
    # (IF NOT EXISTS: stores of older lamina versions had build create it on first use.)
    """
    CREATE TABLE IF NOT EXISTS build_cache (
        key      TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        created  REAL NOT NULL
    );
    """,
    # 5: holds on images a command is using before a container or a tag does
    # (lamina.store.holds): a row per holder (a locked file in tmp/) and image.
    """
    CREATE TABLE holds (
        token    TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
        PRIMARY KEY (token, image_id)
    );
    CREATE INDEX holds_image ON holds(image_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def is_busy(err: sqlite3.OperationalError) -> bool:
    """Whether ``err`` is SQLite telling us another connection holds a lock."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(err)
    return "locked" in text or "busy" in text


class Database:
    """One connection to ``lamina.db``; ``transaction()`` for writes, ``read()`` for reads."""

    def __init__(self, path: Path, *, lock_wait: float = LOCK_WAIT) -> None:
        self.path = path
        self.lock_wait = lock_wait
        try:
            self.conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the store database {path}: {err}") from err
        self._depth = 0
        # One connection, so one transaction at a time: threads sharing a Store take turns.
        self._lock = threading.RLock()
        self._retry(self._configure)
        version = self._retry(lambda: self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            self._migrate()

    def _configure(self) -> None:
        # Per-connection settings. NORMAL is durable against a process crash in WAL mode, and
        # consistent (never corrupt) after a power loss: only the newest commits can go.
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA synchronous = NORMAL")

    def _migrate(self) -> None:
        # WAL is a property of the file; it cannot be switched inside a transaction.
        mode = self._retry(lambda: self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if str(mode).lower() != "wal":
            raise StorageError(f"cannot put the store database {self.path} in WAL mode")
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, applied REAL NOT NULL)"
            )
            current = conn.execute(
                "SELECT coalesce(max(version), 0) FROM schema_migrations"
            ).fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StorageError(
                    f"the store {self.path.parent} was made by a newer lamina "
                    f"(schema {current}, this one knows {SCHEMA_VERSION})",
                    hint="upgrade lamina",
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                # executescript would COMMIT our transaction; run statement by statement.
                for statement in _statements(MIGRATIONS[version - 1]):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
                    (version, time.time()),
                )
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, again and again while the database is busy, up to ``lock_wait`` s."""
        deadline = time.monotonic() + self.lock_wait
        delay = 0.002
        while True:
            try:
                return fn()
            except sqlite3.IntegrityError:
                raise  # a constraint: the caller knows what it means (a Conflict, a bug)
            except sqlite3.DatabaseError as err:
                if not isinstance(err, sqlite3.OperationalError) or not is_busy(err):
                    raise StorageError(f"store database {self.path}: {err}") from err
                if time.monotonic() >= deadline:
                    raise StorageError(
                        f"the store database {self.path} stayed locked for "
                        f"{self.lock_wait:.0f}s by another lamina process",
                        hint="check for a hung lamina process",
                    ) from err
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE (retried while busy) ... COMMIT.

        Nested use joins the outer transaction. An exception rolls everything back.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            yield from self._outer_transaction()

    def _outer_transaction(self) -> Iterator[sqlite3.Connection]:
        self._retry(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            # With the write lock held COMMIT does not wait on other writers; retry anyway in
            # case a reader's lock on the WAL index gets in the way of a checkpoint-restart.
            self._retry(lambda: self.conn.execute("COMMIT"))
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever a change is committed to the database, by any
        connection (``data_version``) or this one (``total_changes``): what a cache of a
        reading keys on."""
        with self._lock:
            row = self.conn.execute("PRAGMA data_version").fetchone()
            return int(row[0]), self.conn.total_changes

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one read transaction (a consistent snapshot), retried while busy."""
        with self._lock:
            return self._read(fn)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._depth:
            return fn(self.conn)

        def attempt() -> T:
            self.conn.execute("BEGIN")
            try:
                return fn(self.conn)
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

        return self._retry(attempt)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction; the whole of it is retried while busy."""

        def attempt() -> T:
            with self.transaction() as conn:
                return fn(conn)

        with self._lock:
            if self._depth:
                return fn(self.conn)
            return self._retry(attempt)

    def make_durable(self) -> None:
        """Flush every commit so far (of any process) to disk.

        Commits are durable against a process crash as soon as they return, but with
        ``synchronous = NORMAL`` a power loss can undo the newest. Before gc deletes files
        because the metadata stopped referencing them, that metadata must not be undoable.
        The WAL is one append-only file: one fsync of it covers every earlier commit.
        """
        for name in (self.path.name + "-wal", self.path.name):
            try:
                fd = os.open(self.path.parent / name, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        self.conn.close()


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (our scripts hold no ';' in literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    for statement in "\n".join(lines).split(";"):
        if statement.strip():
            yield statement.strip()
