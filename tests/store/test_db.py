"""The metadata database: schema migrations, WAL, write transactions that wait, never fail."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from lamina.errors import StorageError
from lamina.store.db import MIGRATIONS, SCHEMA_VERSION, Database, _statements


def tables(db: Database) -> set[str]:
    rows = db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def test_schema_created_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "lamina.db")
    assert {
        "schema_migrations",
        "images",
        "layers",
        "image_layers",
        "tags",
        "repo_digests",
        "manifests",
        "containers",
        "build_cache",
    } <= tables(db)
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    versions = db.conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    db.close()
    again = Database(tmp_path / "lamina.db")
    assert again.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == (
        SCHEMA_VERSION
    )
    again.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "lamina.db")
    with db.transaction() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (SCHEMA_VERSION + 1,))
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer lamina"):
        Database(tmp_path / "lamina.db")


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "lamina.db")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, size, added)"
            " VALUES ('a', 'm', 't', 0, 0)"
        )
        raise RuntimeError("boom")
    assert db.conn.execute("SELECT count(*) FROM images").fetchone()[0] == 0
    assert not db.conn.in_transaction


def test_nested_transactions_join(tmp_path: Path) -> None:
    db = Database(tmp_path / "lamina.db")
    with db.transaction() as outer:
        with db.transaction() as inner:
            assert inner is outer
            inner.execute(
                "INSERT INTO images (id, manifest_digest, manifest_media_type, size, added)"
                " VALUES ('a', 'm', 't', 0, 0)"
            )
        assert db.write(lambda c: c.execute("SELECT count(*) FROM images").fetchone()[0]) == 1
    assert db.read(lambda c: c.execute("SELECT count(*) FROM images").fetchone()[0]) == 1


def test_writer_waits_for_a_held_lock(tmp_path: Path) -> None:
    path = tmp_path / "lamina.db"
    Database(path).close()
    holder = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    # Hold the write lock for longer than SQLite's own busy timeout on the first attempts.
    release = threading.Timer(0.7, lambda: holder.execute("COMMIT"))
    db = Database(path, lock_wait=10)
    db.conn.execute("PRAGMA busy_timeout = 50")  # make our retry loop do the waiting
    start = time.monotonic()
    release.start()
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, size, added)"
            " VALUES ('a', 'm', 't', 0, 0)"
        )
    assert time.monotonic() - start >= 0.6
    release.join()
    holder.close()


def test_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lamina.db"
    Database(path).close()
    holder = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    db = Database(path, lock_wait=0.3)
    db.conn.execute("PRAGMA busy_timeout = 10")
    with pytest.raises(StorageError, match="stayed locked") as info:
        db.write(lambda c: c.execute("DELETE FROM images"))
    assert "database is locked" not in str(info.value)
    holder.execute("ROLLBACK")
    holder.close()


def test_concurrent_first_open(tmp_path: Path) -> None:
    path = tmp_path / "lamina.db"
    errors: list[BaseException] = []

    def open_db() -> None:
        try:
            Database(path).close()
        except BaseException as err:  # re-checked below
            errors.append(err)

    threads = [threading.Thread(target=open_db) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = Database(path)
    assert db.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == (
        SCHEMA_VERSION
    )


def test_corrupt_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "lamina.db"
    path.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(StorageError, match="store database"):
        Database(path)


def test_build_cache_migrates_over_the_table_old_builds_made(tmp_path: Path) -> None:
    """Stores of older versions (schema 2) got the build_cache table from build on first use;
    migration 4 takes the table over, rows and all."""
    path = tmp_path / "lamina.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied REAL NOT NULL)")
    for version in (1, 2):
        for statement in _statements(MIGRATIONS[version - 1]):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
    conn.execute("CREATE TABLE build_cache (key TEXT PRIMARY KEY, image_id TEXT NOT NULL"
                 " REFERENCES images(id) ON DELETE CASCADE, created REAL NOT NULL)")
    conn.execute("INSERT INTO images (id, manifest_digest, manifest_media_type, size, added)"
                 " VALUES ('sha256:aa', 'sha256:bb', 'x', 0, 0)")
    conn.execute("INSERT INTO build_cache VALUES ('step', 'sha256:aa', 0)")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    db = Database(path)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.conn.execute("SELECT key, image_id FROM build_cache").fetchall() == [
        ("step", "sha256:aa")]
    # The rows go with their image.
    with db.transaction() as write:
        write.execute("DELETE FROM images")
    assert db.conn.execute("SELECT count(*) FROM build_cache").fetchone()[0] == 0
