"""The SQLite metadata store: the MetadataStore interface as SQL over ``sqlite_db.Database``.

The manifest GET path is one indexed query on the calling thread's own connection. Each write
method is one transaction that checks its own preconditions, as the interface requires.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lamina.registry.metadata.base import (
    GCSnapshot,
    ManifestReferenceError,
    ManifestSizeError,
    MetadataStore,
    NewManifest,
    Referrer,
    StoredManifest,
    Upload,
)
from lamina.registry.metadata.sqlite_db import Database

_GET_BY_TAG = (
    "SELECT m.digest, m.media_type, m.raw, m.pushed FROM tags t JOIN manifests m"
    " ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.name = ?"
)
_GET_BY_DIGEST = (
    "SELECT digest, media_type, raw, pushed FROM manifests WHERE repo = ? AND digest = ?"
)


class SQLiteMetadata(MetadataStore):
    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._db = Database(path, busy_timeout=busy_timeout)
        self._conn = self._db.conn
        self._write = self._db.write

    def close(self) -> None:
        self._db.close()

    # --- reads ------------------------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> StoredManifest | None:
        query = _GET_BY_DIGEST if ":" in reference else _GET_BY_TAG
        row = self._conn().execute(query, (repository, reference)).fetchone()
        return StoredManifest(row[0], row[1], row[2], row[3]) if row else None

    def blob_size(self, repository: str, digest: str) -> int | None:
        row = (
            self._conn()
            .execute(
                "SELECT b.size FROM repo_blobs l JOIN blobs b ON b.digest = l.digest"
                " WHERE l.repo = ? AND l.digest = ?",
                (repository, digest),
            )
            .fetchone()
        )
        return row[0] if row else None

    def blob_link(self, repository: str, digest: str) -> tuple[int, float] | None:
        row = (
            self._conn()
            .execute(
                "SELECT b.size, l.linked FROM repo_blobs l JOIN blobs b ON b.digest = l.digest"
                " WHERE l.repo = ? AND l.digest = ?",
                (repository, digest),
            )
            .fetchone()
        )
        return (row[0], row[1]) if row else None

    def touch_link(self, repository: str, digest: str) -> bool:
        now = time.time()
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE repo_blobs SET linked = ? WHERE repo = ? AND digest = ?",
                (now, repository, digest),
            )
            if cur.rowcount != 1:
                return False
            conn.execute("UPDATE blobs SET last_used = ? WHERE digest = ?", (now, digest))
            return True

    def touch_manifest(self, repository: str, digest: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE manifests SET pushed = ? WHERE repo = ? AND digest = ?",
                (time.time(), repository, digest),
            )
            return cur.rowcount == 1

    def repository_exists(self, repository: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM repositories WHERE name = ?", (repository,))
            .fetchone()
        )
        return row is not None

    def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        rows = (
            self._conn()
            .execute(
                "SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name LIMIT ?",
                (repository, last or "", -1 if limit is None else limit),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def list_repositories(self, last: str | None, limit: int | None) -> list[str]:
        rows = (
            self._conn()
            .execute(
                "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
                (last or "", -1 if limit is None else limit),
            )
            .fetchall()
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
        rows = self._conn().execute(sql + " ORDER BY digest", args).fetchall()
        return [Referrer(*r) for r in rows]

    def get_upload(self, upload_id: str) -> Upload | None:
        row = (
            self._conn()
            .execute(
                'SELECT id, repo, "offset", digest, created, updated FROM uploads WHERE id = ?',
                (upload_id,),
            )
            .fetchone()
        )
        return Upload(*row) if row else None

    def count_uploads(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM uploads").fetchone()[0])

    # --- writes -----------------------------------------------------------------------------
    @staticmethod
    def _touch_repository(conn: sqlite3.Connection, repository: str, now: float) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO repositories (name, created) VALUES (?, ?)", (repository, now)
        )

    def create_upload(self, upload_id: str, repository: str) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                'INSERT INTO uploads (id, repo, "offset", digest, created, updated)'
                " VALUES (?, ?, 0, NULL, ?, ?)",
                (upload_id, repository, now, now),
            )

    def advance_upload(
        self, upload_id: str, expected_offset: int, offset: int, digest: str | None
    ) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                'UPDATE uploads SET "offset" = ?, digest = ?, updated = ?'
                ' WHERE id = ? AND "offset" = ?',
                (offset, digest, time.time(), upload_id, expected_offset),
            )
            return cur.rowcount == 1

    def delete_upload(self, upload_id: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)).rowcount == 1

    def commit_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        place: Callable[[], None],
        upload_id: str | None = None,
    ) -> bool:
        now = time.time()
        with self._write() as conn:
            placed = False
            cur = conn.execute("UPDATE blobs SET last_used = ? WHERE digest = ?", (now, digest))
            if cur.rowcount == 0:
                # Under the write lock: GC cannot unlink this digest's file until we commit.
                place()
                placed = True
                conn.execute(
                    "INSERT INTO blobs (digest, size, last_used) VALUES (?, ?, ?)",
                    (digest, size, now),
                )
            conn.execute(
                "INSERT OR REPLACE INTO repo_blobs (repo, digest, linked) VALUES (?, ?, ?)",
                (repository, digest, now),
            )
            self._touch_repository(conn, repository, now)
            if upload_id is not None:
                conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            return placed

    def mount_blob(self, repository: str, digest: str, source: str) -> int | None:
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT b.size FROM repo_blobs l JOIN blobs b ON b.digest = l.digest"
                " WHERE l.repo = ? AND l.digest = ?",
                (source, digest),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE blobs SET last_used = ? WHERE digest = ?", (now, digest))
            conn.execute(
                "INSERT OR REPLACE INTO repo_blobs (repo, digest, linked) VALUES (?, ?, ?)",
                (repository, digest, now),
            )
            self._touch_repository(conn, repository, now)
            return int(row[0])

    def unlink_blob(self, repository: str, digest: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", (repository, digest)
            )
            return cur.rowcount == 1

    def put_manifest(self, repository: str, manifest: NewManifest, tag: str | None) -> None:
        now = time.time()
        with self._write() as conn:
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
                if row is not None and row[0] != declared:
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
            conn.executemany(
                "INSERT OR IGNORE INTO manifest_refs (repo, parent, kind, child)"
                " VALUES (?, ?, ?, ?)",
                [(repository, manifest.digest, "blob", d) for d in manifest.blobs]
                + [(repository, manifest.digest, "manifest", d) for d in manifest.manifests],
            )
            # A re-push refreshes the blobs' links, so GC's grace period starts again.
            conn.executemany(
                "UPDATE repo_blobs SET linked = ? WHERE repo = ? AND digest = ?",
                [(now, repository, d) for d in manifest.blobs],
            )
            if tag is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO tags (repo, name, digest, updated) VALUES (?, ?, ?, ?)",
                    (repository, tag, manifest.digest, now),
                )
            self._touch_repository(conn, repository, now)

    def _delete_manifest_rows(self, conn: sqlite3.Connection, repository: str, digest: str) -> None:
        conn.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repository, digest))
        conn.execute(
            "DELETE FROM manifest_refs WHERE repo = ? AND parent = ?", (repository, digest)
        )

    def delete_manifest(self, repository: str, digest: str) -> bool:
        with self._write() as conn:
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

    def delete_tag(self, repository: str, tag: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM tags WHERE repo = ? AND name = ?", (repository, tag))
            return cur.rowcount == 1

    # --- garbage collection -----------------------------------------------------------------
    def gc_snapshot(self) -> GCSnapshot:
        # One read transaction: a consistent view, and writers go on meanwhile (WAL).
        with self._db.read() as conn:
            return GCSnapshot(
                manifests=conn.execute(
                    "SELECT repo, digest, pushed, subject FROM manifests"
                ).fetchall(),
                tagged={tuple(r) for r in conn.execute("SELECT DISTINCT repo, digest FROM tags")},
                refs=conn.execute("SELECT repo, parent, child, kind FROM manifest_refs").fetchall(),
                links=conn.execute("SELECT repo, digest, linked FROM repo_blobs").fetchall(),
                blobs=conn.execute("SELECT digest, size, last_used FROM blobs").fetchall(),
                uploads=conn.execute("SELECT id, updated FROM uploads").fetchall(),
            )

    def gc_delete_manifest(self, repository: str, digest: str, cutoff: float) -> bool:
        with self._write() as conn:
            row = conn.execute(
                "SELECT subject FROM manifests m WHERE repo = ? AND digest = ? AND pushed < ?"
                " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo"
                "  AND t.digest = m.digest)"
                " AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = m.repo"
                "  AND r.child = m.digest AND r.kind = 'manifest')"
                " AND (subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s"
                "  WHERE s.repo = m.repo AND s.digest = m.subject))",
                (repository, digest, cutoff),
            ).fetchone()
            if row is None:
                return False
            self._delete_manifest_rows(conn, repository, digest)
            return True

    def gc_delete_links(self, links: Sequence[tuple[str, str]], cutoff: float) -> int:
        deleted = 0
        for start in range(0, len(links), 500):
            with self._write() as conn:
                for repo, digest in links[start : start + 500]:
                    deleted += conn.execute(
                        "DELETE FROM repo_blobs WHERE repo = ? AND digest = ? AND linked < ?"
                        " AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = ?"
                        "  AND r.child = ? AND r.kind = 'blob')",
                        (repo, digest, cutoff, repo, digest),
                    ).rowcount
        return deleted

    def gc_delete_blob(self, digest: str, cutoff: float) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM blobs WHERE digest = ? AND last_used < ?"
                " AND NOT EXISTS (SELECT 1 FROM repo_blobs WHERE digest = ?)",
                (digest, cutoff, digest),
            )
            return cur.rowcount == 1

    def gc_remove_blob_file(self, digest: str, remove: Callable[[], None]) -> bool:
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM blobs WHERE digest = ?", (digest,)).fetchone():
                return False
            remove()
            return True

    def gc_delete_upload(self, upload_id: str, cutoff: float) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM uploads WHERE id = ? AND updated < ?", (upload_id, cutoff)
            )
            return cur.rowcount == 1


__all__ = ["SQLiteMetadata"]
