"""PostgreSQL plumbing for the metadata store: a psycopg 3 connection pool, migrations under an
advisory lock, and serializable write transactions retried on conflict.

Every write transaction runs at SERIALIZABLE, so the checks a write makes (a manifest's blobs
are linked; GC's "nothing references this") hold against every concurrent transaction on every
replica, just as SQLite's single writer gives. A transaction that loses a race is retried from
the start. A connection that dies (a restarted server, ``pg_terminate_backend``) is dropped by
the pool; the statement that saw it is retried once on a fresh connection when nothing can
have been committed, else the request fails with a 503 and the next one gets a new connection.
The SQL of ``sql.SQLMetadata`` is written with ``?`` placeholders; they become ``%s`` here.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lamina.errors import StorageError
from lamina.registry.metadata.schema import LATEST, VERSION_TABLE, statements, too_new

T = TypeVar("T")
_RETRIES = 20
_MIGRATION_LOCK = 0x6C616D696E61  # pg_advisory_lock key: one migrator at a time


def redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    dsn = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", dsn)
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)


def where(dsn: str) -> str:
    """host:port of a DSN, for the one-line error at start."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
        return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
    except Exception:
        return redact(dsn)


class _Conn:
    """A connection that speaks the ``?`` placeholders of the shared SQL."""

    __slots__ = ("conn",)
    _cache: dict[str, str] = {}

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    def _sql(cls, sql: str) -> str:
        out = cls._cache.get(sql)
        if out is None:
            out = cls._cache[sql] = sql.replace("?", "%s")
        return out

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self.conn.execute(self._sql(sql), params, prepare=True)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self._sql(sql), rows)


def _configure(conn: Any) -> None:
    """Each new connection: transactions it opens are SERIALIZABLE."""
    import psycopg

    conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE


class PostgresDatabase:
    dialect = "postgres"
    blocking = True  # every query is a round trip: handlers run them in threads

    def __init__(self, dsn: str, *, max_connections: int = 16, timeout: float = 10.0) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.location = f"postgresql at {where(dsn)}"
        self._psycopg = psycopg
        try:
            # A quick probe first, so an unreachable server is one clear line, not a pool
            # that retries in the background.
            psycopg.connect(dsn, connect_timeout=5).close()
        except psycopg.Error as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = lines[0] if lines else type(exc).__name__
            raise StorageError(f"cannot reach {self.location}: {redact(reason)}") from None
        self.pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": 5},
            configure=_configure,
            timeout=timeout,
            name="lamina-registry",
            open=True,
        )
        try:
            self._migrate_locked()
        except psycopg.Error as exc:
            self.pool.close()
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            raise StorageError(
                f"cannot migrate {self.location}: {lines[0] if lines else type(exc).__name__}"
            ) from None
        except BaseException:
            self.pool.close()
            raise

    def _migrate_locked(self) -> None:
        """Migrate under a session advisory lock taken before the transaction starts, so the
        replica that waited sees the schema the first one made (a serializable transaction's
        snapshot would be older than the lock)."""
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                with conn.transaction():
                    self._migrate(_Conn(conn))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))

    def _migrate(self, conn: _Conn) -> None:
        conn.execute(VERSION_TABLE)
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > LATEST:
            raise StorageError(too_new(current, self.location))
        for version in range(current + 1, LATEST + 1):
            for statement in statements(version, self.dialect):
                conn.conn.execute(statement)
        if current < LATEST:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST,))

    def _fault(self, exc: Exception) -> StorageError:
        return StorageError(f"metadata: {self.location} unavailable ({type(exc).__name__})")

    def _read(self, fn: Callable[[_Conn], T]) -> T:
        psycopg = self._psycopg
        from psycopg_pool import PoolTimeout

        for attempt in range(2):
            try:
                with self.pool.connection() as conn:
                    return fn(_Conn(conn))
            except psycopg.OperationalError as exc:
                if attempt:
                    raise self._fault(exc) from None
            except PoolTimeout as exc:
                raise self._fault(exc) from None
        raise AssertionError("unreachable")

    def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self._read(lambda c: c.execute(sql, params).fetchone())

    def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._read(lambda c: c.execute(sql, params).fetchall())

    def transact(self, fn: Callable[[_Conn], T]) -> T:
        """Run ``fn`` in a serializable transaction, retried while it loses races."""
        psycopg = self._psycopg
        from psycopg_pool import PoolTimeout

        errors = psycopg.errors
        retryable = (errors.SerializationFailure, errors.DeadlockDetected, errors.UniqueViolation)
        for attempt in range(_RETRIES):
            committing = False
            try:
                with self.pool.connection() as conn:
                    tx = conn.transaction()
                    with tx:
                        result = fn(_Conn(conn))
                        committing = True
                    return result
            except retryable:
                time.sleep(min(0.2, 0.002 * 2**attempt) * random.uniform(0.5, 1.5))
            except psycopg.OperationalError as exc:
                # Before COMMIT the server rolled the transaction back with the connection:
                # run it again once on a fresh one. At COMMIT nobody knows: fail the request.
                if committing or attempt:
                    raise self._fault(exc) from None
            except PoolTimeout as exc:
                raise self._fault(exc) from None
        raise StorageError(f"metadata: {self.location}: too many conflicting transactions")

    def close(self) -> None:
        self.pool.close()


__all__ = ["PostgresDatabase", "redact", "where"]
