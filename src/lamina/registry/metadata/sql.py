"""The metadata store as SQL that both SQLite and PostgreSQL run (``?`` placeholders, ON CONFLICT,
RETURNING, row values), over a database adapter: ``sqlite_db.Database`` or
``postgres_db.PostgresDatabase``.

The manifest GET path is one indexed query. Each write method is one transaction that checks its
own preconditions, as the interface requires; the adapter makes that transaction serializable
(SQLite's single writer; PostgreSQL's SERIALIZABLE, retried on conflict).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lamina.registry.metadata.base import (
    BlobRecord,
    ManifestFacts,
    ManifestReferenceError,
    ManifestSizeError,
    MetadataStore,
    NewManifest,
    Referrer,
    StoredManifest,
    Upload,
    UploadClaimLost,
)

T = TypeVar("T")
_NO_LIMIT = 1 << 62

_GET_BY_TAG = (
    "SELECT m.digest, m.media_type, m.raw, m.pushed FROM tags t JOIN manifests m"
    " ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.name = ?"
)
_GET_BY_DIGEST = (
    "SELECT digest, media_type, raw, pushed FROM manifests WHERE repo = ? AND digest = ?"
)
_UPLOAD_COLUMNS = 'id, repo, "offset", hash_state, created, updated, writer, claimed, state'
_UNREFERENCED_MANIFEST = (
    " m.pushed < ?"
    " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest)"
    " AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = m.repo"
    "  AND r.child = m.digest AND r.kind = 'manifest')"
    " AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s"
    "  WHERE s.repo = m.repo AND s.digest = m.subject))"
)
_UNREFERENCED_LINK = (
    " l.linked < ? AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = l.repo"
    "  AND r.child = l.digest AND r.kind = 'blob')"
)


class Conn(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Any, /) -> Any: ...


class SQLDatabase(Protocol):
    dialect: str
    blocking: bool
    location: str

    def fetchone(self, sql: str, params: tuple[Any, ...] = ...) -> Any: ...

    def fetchall(self, sql: str, params: tuple[Any, ...] = ...) -> list[Any]: ...

    def transact(self, fn: Callable[[Any], T]) -> T: ...

    def close(self) -> None: ...


def _upload(row: Any) -> Upload | None:
    return Upload(*row) if row else None


class SQLMetadata(MetadataStore):
    def __init__(self, db: SQLDatabase) -> None:
        self._db = db
        self.blocking = db.blocking
        self.location = db.location

    def close(self) -> None:
        self._db.close()

    # --- reads ------------------------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> StoredManifest | None:
        query = _GET_BY_DIGEST if ":" in reference else _GET_BY_TAG
        row = self._db.fetchone(query, (repository, reference))
        return StoredManifest(row[0], row[1], bytes(row[2]), row[3]) if row else None

    def blob_size(self, repository: str, digest: str) -> int | None:
        found = self.blob_link(repository, digest)
        return found[0] if found else None

    def blob_link(self, repository: str, digest: str) -> tuple[int, float, str] | None:
        row = self._db.fetchone(
            "SELECT b.size, l.linked, b.key FROM repo_blobs l JOIN blobs b ON b.digest = l.digest"
            " WHERE l.repo = ? AND l.digest = ?",
            (repository, digest),
        )
        return (int(row[0]), float(row[1]), row[2]) if row else None

    def blob_record(self, digest: str) -> BlobRecord | None:
        row = self._db.fetchone("SELECT digest, size, key FROM blobs WHERE digest = ?", (digest,))
        return BlobRecord(row[0], int(row[1]), row[2]) if row else None

    def touch_link(self, repository: str, digest: str) -> bool:
        now = time.time()

        def tx(conn: Conn) -> bool:
            cur = conn.execute(
                "UPDATE repo_blobs SET linked = ? WHERE repo = ? AND digest = ?",
                (now, repository, digest),
            )
            if cur.rowcount != 1:
                return False
            conn.execute("UPDATE blobs SET last_used = ? WHERE digest = ?", (now, digest))
            return True

        return self._db.transact(tx)

    def touch_manifest(self, repository: str, digest: str) -> bool:
        return self._db.transact(
            lambda conn: (
                conn.execute(
                    "UPDATE manifests SET pushed = ? WHERE repo = ? AND digest = ?",
                    (time.time(), repository, digest),
                ).rowcount
                == 1
            )
        )

    def repository_exists(self, repository: str) -> bool:
        return (
            self._db.fetchone("SELECT 1 FROM repositories WHERE name = ?", (repository,))
            is not None
        )

    def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        rows = self._db.fetchall(
            "SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name LIMIT ?",
            (repository, last or "", _NO_LIMIT if limit is None else limit),
        )
        return [r[0] for r in rows]

    def list_repositories(self, last: str | None, limit: int | None) -> list[str]:
        rows = self._db.fetchall(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
            (last or "", _NO_LIMIT if limit is None else limit),
        )
        return [r[0] for r in rows]

    def referrers(self, repository: str, subject: str, artifact_type: str | None) -> list[Referrer]:
        sql = (
            "SELECT digest, media_type, length(raw), artifact_type, annotations FROM manifests"
            " WHERE repo = ? AND subject = ?"
        )
        args: tuple[str, ...] = (repository, subject)
        if artifact_type is not None:
            sql += " AND artifact_type = ?"
            args += (artifact_type,)
        rows = self._db.fetchall(sql + " ORDER BY digest", args)
        return [Referrer(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows]

    def get_upload(self, upload_id: str) -> Upload | None:
        return _upload(
            self._db.fetchone(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = ?", (upload_id,))
        )

    def count_uploads(self) -> int:
        return int(self._db.fetchone("SELECT count(*) FROM uploads")[0])

    # --- writes -----------------------------------------------------------------------------
    @staticmethod
    def _touch_repository(conn: Conn, repository: str, now: float) -> None:
        conn.execute(
            "INSERT INTO repositories (name, created) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (repository, now),
        )

    @staticmethod
    def _link(conn: Conn, repository: str, digest: str, now: float) -> None:
        conn.execute(
            "INSERT INTO repo_blobs (repo, digest, linked) VALUES (?, ?, ?)"
            " ON CONFLICT (repo, digest) DO UPDATE SET linked = excluded.linked",
            (repository, digest, now),
        )

    def create_upload(self, upload_id: str, repository: str) -> None:
        now = time.time()
        self._db.transact(
            lambda conn: conn.execute(
                'INSERT INTO uploads (id, repo, "offset", digest, created, updated)'
                " VALUES (?, ?, 0, NULL, ?, ?)",
                (upload_id, repository, now, now),
            )
        )

    def claim_upload(
        self, upload_id: str, offset: int, writer: str, now: float, lease: float
    ) -> Upload | None:
        return self._db.transact(
            lambda conn: _upload(
                conn.execute(
                    "UPDATE uploads SET writer = ?, claimed = ?, updated = ?"
                    ' WHERE id = ? AND "offset" = ? AND (writer IS NULL OR claimed < ?)'
                    f" RETURNING {_UPLOAD_COLUMNS}",
                    (writer, now, now, upload_id, offset, now - lease),
                ).fetchone()
            )
        )

    def release_upload(self, upload_id: str, writer: str) -> None:
        self._db.transact(
            lambda conn: conn.execute(
                "UPDATE uploads SET writer = NULL, claimed = NULL WHERE id = ? AND writer = ?",
                (upload_id, writer),
            )
        )

    def advance_upload(
        self,
        upload_id: str,
        writer: str,
        expected_offset: int,
        offset: int,
        hash_state: str | None,
        state: str | None,
    ) -> bool:
        return self._db.transact(
            lambda conn: (
                conn.execute(
                    'UPDATE uploads SET "offset" = ?, hash_state = ?, state = ?, updated = ?,'
                    ' writer = NULL, claimed = NULL WHERE id = ? AND writer = ? AND "offset" = ?',
                    (offset, hash_state, state, time.time(), upload_id, writer, expected_offset),
                ).rowcount
                == 1
            )
        )

    def delete_upload(self, upload_id: str) -> Upload | None:
        return self._db.transact(
            lambda conn: _upload(
                conn.execute(
                    f"DELETE FROM uploads WHERE id = ? RETURNING {_UPLOAD_COLUMNS}", (upload_id,)
                ).fetchone()
            )
        )

    def commit_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        key: str,
        upload_id: str | None = None,
        writer: str | None = None,
    ) -> bool:
        now = time.time()

        def tx(conn: Conn) -> bool:
            if upload_id is not None:
                gone = conn.execute(
                    "DELETE FROM uploads WHERE id = ? AND writer = ?", (upload_id, writer)
                ).rowcount
                if gone != 1:
                    raise UploadClaimLost(upload_id)
            cur = conn.execute("UPDATE blobs SET last_used = ? WHERE digest = ?", (now, digest))
            placed = cur.rowcount == 0
            if placed:
                conn.execute(
                    "INSERT INTO blobs (digest, size, last_used, key) VALUES (?, ?, ?, ?)",
                    (digest, size, now, key),
                )
            self._link(conn, repository, digest, now)
            self._touch_repository(conn, repository, now)
            return placed

        return self._db.transact(tx)

    def add_blob(self, repository: str, record: BlobRecord) -> bool:
        """Record a blob copied in whole (by ``lamina registry migrate``) and link it."""
        return self.commit_blob(repository, record.digest, record.size, record.key)

    def mount_blob(self, repository: str, digest: str, source: str) -> int | None:
        now = time.time()

        def tx(conn: Conn) -> int | None:
            row = conn.execute(
                "SELECT b.size FROM repo_blobs l JOIN blobs b ON b.digest = l.digest"
                " WHERE l.repo = ? AND l.digest = ?",
                (source, digest),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE blobs SET last_used = ? WHERE digest = ?", (now, digest))
            self._link(conn, repository, digest, now)
            self._touch_repository(conn, repository, now)
            return int(row[0])

        return self._db.transact(tx)

    def unlink_blob(self, repository: str, digest: str) -> bool:
        return self._db.transact(
            lambda conn: (
                conn.execute(
                    "DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", (repository, digest)
                ).rowcount
                == 1
            )
        )

    def put_manifest(self, repository: str, manifest: NewManifest, tag: str | None) -> None:
        now = time.time()

        def tx(conn: Conn) -> None:
            missing = [
                d
                for d in dict.fromkeys(manifest.blobs)
                if conn.execute(
                    "SELECT 1 FROM repo_blobs WHERE repo = ? AND digest = ?", (repository, d)
                ).fetchone()
                is None
            ]
            missing += [
                d
                for d in dict.fromkeys(manifest.manifests)
                if d != manifest.digest
                and conn.execute(
                    "SELECT 1 FROM manifests WHERE repo = ? AND digest = ?", (repository, d)
                ).fetchone()
                is None
            ]
            if missing:
                raise ManifestReferenceError(missing)
            mismatched = []
            for d, declared in manifest.sizes:
                row = conn.execute(
                    "SELECT size FROM blobs WHERE digest = ?"
                    " UNION ALL SELECT length(raw) FROM manifests WHERE repo = ? AND digest = ?",
                    (d, repository, d),
                ).fetchone()
                if row is not None and int(row[0]) != declared:
                    mismatched.append((d, declared, int(row[0])))
            if mismatched:
                raise ManifestSizeError(mismatched)
            conn.execute(
                "INSERT INTO manifests (repo, digest, media_type, raw, subject, artifact_type,"
                " annotations, pushed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (repo, digest) DO UPDATE SET pushed = excluded.pushed",
                (
                    repository,
                    manifest.digest,
                    manifest.media_type,
                    manifest.raw,
                    manifest.subject,
                    manifest.artifact_type,
                    manifest.annotations,
                    now,
                ),
            )
            refs = [(repository, manifest.digest, "blob", d) for d in manifest.blobs] + [
                (repository, manifest.digest, "manifest", d) for d in manifest.manifests
            ]
            if refs:
                conn.executemany(
                    "INSERT INTO manifest_refs (repo, parent, kind, child) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    refs,
                )
            # A re-push refreshes the blobs' links, so GC's grace period starts again.
            if manifest.blobs:
                conn.executemany(
                    "UPDATE repo_blobs SET linked = ? WHERE repo = ? AND digest = ?",
                    [(now, repository, d) for d in manifest.blobs],
                )
            if tag is not None:
                conn.execute(
                    "INSERT INTO tags (repo, name, digest, updated) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (repo, name) DO UPDATE SET digest = excluded.digest,"
                    " updated = excluded.updated",
                    (repository, tag, manifest.digest, now),
                )
            self._touch_repository(conn, repository, now)

        self._db.transact(tx)

    @staticmethod
    def _delete_manifest_rows(conn: Conn, repository: str, digest: str) -> None:
        conn.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repository, digest))
        conn.execute(
            "DELETE FROM manifest_refs WHERE repo = ? AND parent = ?", (repository, digest)
        )

    def delete_manifest(self, repository: str, digest: str) -> bool:
        def tx(conn: Conn) -> bool:
            if (
                conn.execute(
                    "SELECT 1 FROM manifests WHERE repo = ? AND digest = ?", (repository, digest)
                ).fetchone()
                is None
            ):
                return False
            self._delete_manifest_rows(conn, repository, digest)
            conn.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", (repository, digest))
            return True

        return self._db.transact(tx)

    def delete_tag(self, repository: str, tag: str) -> bool:
        return self._db.transact(
            lambda conn: (
                conn.execute(
                    "DELETE FROM tags WHERE repo = ? AND name = ?", (repository, tag)
                ).rowcount
                == 1
            )
        )

    # --- garbage collection -----------------------------------------------------------------
    def gc_manifest_candidates(
        self, cutoff: float, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        repo, digest = after or ("", "")
        rows = self._db.fetchall(
            f"SELECT m.repo, m.digest FROM manifests m WHERE (m.repo, m.digest) > (?, ?) AND"
            f"{_UNREFERENCED_MANIFEST} ORDER BY m.repo, m.digest LIMIT ?",
            (repo, digest, cutoff, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def gc_delete_manifest(self, repository: str, digest: str, cutoff: float) -> bool:
        def tx(conn: Conn) -> bool:
            row = conn.execute(
                "SELECT 1 FROM manifests m WHERE m.repo = ? AND m.digest = ? AND"
                + _UNREFERENCED_MANIFEST,
                (repository, digest, cutoff),
            ).fetchone()
            if row is None:
                return False
            self._delete_manifest_rows(conn, repository, digest)
            return True

        return self._db.transact(tx)

    def gc_link_candidates(
        self, cutoff: float, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        repo, digest = after or ("", "")
        rows = self._db.fetchall(
            f"SELECT l.repo, l.digest FROM repo_blobs l WHERE (l.repo, l.digest) > (?, ?) AND"
            f"{_UNREFERENCED_LINK} ORDER BY l.repo, l.digest LIMIT ?",
            (repo, digest, cutoff, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def gc_delete_links(self, links: Sequence[tuple[str, str]], cutoff: float) -> int:
        deleted = 0
        for start in range(0, len(links), 500):
            batch = links[start : start + 500]

            def tx(conn: Conn, batch: Sequence[tuple[str, str]] = batch) -> int:
                n = 0
                for repo, digest in batch:
                    n += conn.execute(
                        "DELETE FROM repo_blobs AS l WHERE l.repo = ? AND l.digest = ? AND"
                        + _UNREFERENCED_LINK,
                        (repo, digest, cutoff),
                    ).rowcount
                return n

            deleted += self._db.transact(tx)
        return deleted

    def gc_blob_candidates(self, cutoff: float, after: str | None, limit: int) -> list[BlobRecord]:
        rows = self._db.fetchall(
            "SELECT digest, size, key FROM blobs b WHERE digest > ? AND last_used < ?"
            " AND NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)"
            " ORDER BY digest LIMIT ?",
            (after or "", cutoff, limit),
        )
        return [BlobRecord(r[0], int(r[1]), r[2]) for r in rows]

    def gc_delete_blob(self, digest: str, cutoff: float) -> BlobRecord | None:
        row = self._db.transact(
            lambda conn: conn.execute(
                "DELETE FROM blobs WHERE digest = ? AND last_used < ?"
                " AND NOT EXISTS (SELECT 1 FROM repo_blobs WHERE digest = ?)"
                " RETURNING digest, size, key",
                (digest, cutoff, digest),
            ).fetchone()
        )
        return BlobRecord(row[0], int(row[1]), row[2]) if row else None

    def gc_upload_candidates(self, cutoff: float, after: str | None, limit: int) -> list[str]:
        rows = self._db.fetchall(
            "SELECT id FROM uploads WHERE id > ? AND updated < ? ORDER BY id LIMIT ?",
            (after or "", cutoff, limit),
        )
        return [r[0] for r in rows]

    def gc_delete_upload(self, upload_id: str, cutoff: float) -> Upload | None:
        return self._db.transact(
            lambda conn: _upload(
                conn.execute(
                    f"DELETE FROM uploads WHERE id = ? AND updated < ? RETURNING {_UPLOAD_COLUMNS}",
                    (upload_id, cutoff),
                ).fetchone()
            )
        )

    def gc_manifest_facts(self, repository: str, digest: str) -> ManifestFacts | None:
        row = self._db.fetchone(
            "SELECT pushed, subject FROM manifests WHERE repo = ? AND digest = ?",
            (repository, digest),
        )
        if row is None:
            return None
        pushed, subject = float(row[0]), row[1]

        def column(sql: str, *params: str) -> tuple[str, ...]:
            return tuple(r[0] for r in self._db.fetchall(sql, (repository, *params)))

        refs = self._db.fetchall(
            "SELECT kind, child FROM manifest_refs WHERE repo = ? AND parent = ?",
            (repository, digest),
        )
        return ManifestFacts(
            pushed=pushed,
            tagged=bool(column("SELECT name FROM tags WHERE repo = ? AND digest = ?", digest)),
            parents=column(
                "SELECT parent FROM manifest_refs WHERE repo = ? AND child = ?"
                " AND kind = 'manifest'",
                digest,
            ),
            subject=subject,
            subject_present=subject is not None
            and self.get_manifest(repository, subject) is not None,
            children=tuple(child for kind, child in refs if kind == "manifest"),
            referrers=column("SELECT digest FROM manifests WHERE repo = ? AND subject = ?", digest),
            blobs=tuple(child for kind, child in refs if kind == "blob"),
        )

    def gc_link_facts(self, repository: str, digest: str) -> tuple[float, tuple[str, ...]] | None:
        row = self._db.fetchone(
            "SELECT linked FROM repo_blobs WHERE repo = ? AND digest = ?", (repository, digest)
        )
        if row is None:
            return None
        parents = self._db.fetchall(
            "SELECT parent FROM manifest_refs WHERE repo = ? AND child = ? AND kind = 'blob'",
            (repository, digest),
        )
        return float(row[0]), tuple(r[0] for r in parents)

    def gc_blob_facts(self, digest: str) -> tuple[BlobRecord, float, tuple[str, ...]] | None:
        row = self._db.fetchone(
            "SELECT digest, size, key, last_used FROM blobs WHERE digest = ?", (digest,)
        )
        if row is None:
            return None
        repos = self._db.fetchall("SELECT repo FROM repo_blobs WHERE digest = ?", (digest,))
        return BlobRecord(row[0], int(row[1]), row[2]), float(row[3]), tuple(r[0] for r in repos)

    def _present(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(values), 500):
            batch = list(values[start : start + 500])
            marks = ", ".join("?" * len(batch))
            rows = self._db.fetchall(
                f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", tuple(batch)
            )
            found.update(r[0] for r in rows)
        return found

    def known_keys(self, keys: Sequence[str]) -> set[str]:
        return self._present("blobs", "key", keys)

    def upload_ids(self, ids: Sequence[str]) -> set[str]:
        return self._present("uploads", "id", ids)

    # --- copying (migrate) --------------------------------------------------------------------
    def all_blob_links(self, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        repo, digest = after or ("", "")
        rows = self._db.fetchall(
            "SELECT repo, digest FROM repo_blobs WHERE (repo, digest) > (?, ?)"
            " ORDER BY repo, digest LIMIT ?",
            (repo, digest, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def all_manifests(
        self, after: int, limit: int
    ) -> list[tuple[int, str, str, str, bytes, str | None, str | None, str | None]]:
        """(id, repo, digest, media type, raw, subject, artifact type, annotations), in the
        order they were first pushed (so an index comes after its children)."""
        rows = self._db.fetchall(
            "SELECT id, repo, digest, media_type, raw, subject, artifact_type, annotations"
            " FROM manifests WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7]) for r in rows]

    def manifest_refs(self, repository: str, digest: str) -> list[tuple[str, str]]:
        rows = self._db.fetchall(
            "SELECT kind, child FROM manifest_refs WHERE repo = ? AND parent = ?",
            (repository, digest),
        )
        return [(r[0], r[1]) for r in rows]

    def set_tag(self, repository: str, tag: str, digest: str) -> bool:
        """Point ``tag`` at a manifest the repository has; False if it has not."""
        now = time.time()

        def tx(conn: Conn) -> bool:
            if (
                conn.execute(
                    "SELECT 1 FROM manifests WHERE repo = ? AND digest = ?", (repository, digest)
                ).fetchone()
                is None
            ):
                return False
            conn.execute(
                "INSERT INTO tags (repo, name, digest, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (repo, name) DO UPDATE SET digest = excluded.digest,"
                " updated = excluded.updated",
                (repository, tag, digest, now),
            )
            self._touch_repository(conn, repository, now)
            return True

        return self._db.transact(tx)

    def all_tags(self, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str, str]]:
        repo, name = after or ("", "")
        rows = self._db.fetchall(
            "SELECT repo, name, digest FROM tags WHERE (repo, name) > (?, ?)"
            " ORDER BY repo, name LIMIT ?",
            (repo, name, limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]


def SQLiteMetadata(path: str | Path, *, busy_timeout: float = 5.0) -> SQLMetadata:
    """The embedded default: one SQLite file."""
    from lamina.registry.metadata.sqlite_db import Database

    return SQLMetadata(Database(path, busy_timeout=busy_timeout))


def PostgresMetadata(dsn: str, *, max_connections: int = 16) -> SQLMetadata:
    """Shared by replicas: one PostgreSQL database."""
    from lamina.registry.metadata.postgres_db import PostgresDatabase

    return SQLMetadata(PostgresDatabase(dsn, max_connections=max_connections))


__all__ = ["PostgresMetadata", "SQLMetadata", "SQLiteMetadata"]
