"""The registry database's schema as numbered migrations, for SQLite and PostgreSQL alike.

Each migration is applied once, in order, in one transaction, when a registry opens the
database; ``schema_version`` remembers the last one applied. A registry that finds a version
newer than it knows refuses to serve (an older replica would misread the newer layout). To
change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

from typing import Final

# version -> {dialect: statements}
MIGRATIONS: Final[dict[int, dict[str, str]]] = {
    1: {
        "sqlite": """
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
    created REAL NOT NULL, updated REAL NOT NULL) WITHOUT ROWID
""",
        "postgres": """
CREATE TABLE repositories (name TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL);
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY, size BIGINT NOT NULL, last_used DOUBLE PRECISION NOT NULL);
CREATE TABLE repo_blobs (
    repo TEXT NOT NULL, digest TEXT NOT NULL, linked DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo, digest));
CREATE INDEX repo_blobs_digest ON repo_blobs (digest);
CREATE TABLE manifests (
    id BIGSERIAL PRIMARY KEY, repo TEXT NOT NULL, digest TEXT NOT NULL,
    media_type TEXT NOT NULL, raw BYTEA NOT NULL, subject TEXT, artifact_type TEXT,
    annotations TEXT, pushed DOUBLE PRECISION NOT NULL);
CREATE UNIQUE INDEX manifests_key ON manifests (repo, digest);
CREATE INDEX manifests_subject ON manifests (repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE tags (
    repo TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (repo, name));
CREATE INDEX tags_digest ON tags (repo, digest);
CREATE TABLE manifest_refs (
    repo TEXT NOT NULL, parent TEXT NOT NULL, kind TEXT NOT NULL, child TEXT NOT NULL,
    PRIMARY KEY (repo, parent, kind, child));
CREATE INDEX manifest_refs_child ON manifest_refs (repo, child);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, "offset" BIGINT NOT NULL, digest TEXT,
    created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)
""",
    },
    # Blob objects are found by a recorded key (unique to the push that wrote them) rather
    # than by digest; uploads are claimed by one writer at a time and carry the storage
    # driver's state (an S3 multipart upload and its parts).
    2: {
        "sqlite": """
ALTER TABLE blobs ADD COLUMN key TEXT;
UPDATE blobs SET key = 'blobs/' || substr(digest, 1, instr(digest, ':') - 1) || '/'
    || substr(digest, instr(digest, ':') + 1, 2) || '/' || substr(digest, instr(digest, ':') + 1);
CREATE INDEX blobs_key ON blobs (key);
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN claimed REAL;
ALTER TABLE uploads ADD COLUMN state TEXT
""",
        "postgres": """
ALTER TABLE blobs ADD COLUMN key TEXT;
UPDATE blobs SET key = 'blobs/' || split_part(digest, ':', 1) || '/'
    || substr(split_part(digest, ':', 2), 1, 2) || '/' || split_part(digest, ':', 2);
CREATE INDEX blobs_key ON blobs (key);
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN claimed DOUBLE PRECISION;
ALTER TABLE uploads ADD COLUMN state TEXT
""",
    },
    # An upload carries the running sha256 of its bytes so far (``running_hash``), so that the
    # replica that commits it needs no digest state of its own and never reads the bytes back.
    3: {
        "sqlite": "ALTER TABLE uploads ADD COLUMN hash_state TEXT",
        "postgres": "ALTER TABLE uploads ADD COLUMN hash_state TEXT",
    },
}

LATEST: Final[int] = max(MIGRATIONS)

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"


def statements(version: int, dialect: str) -> list[str]:
    """The statements of one migration, one by one."""
    return [s.strip() for s in MIGRATIONS[version][dialect].split(";") if s.strip()]


def too_new(found: int, where: str) -> str:
    return (
        f"registry database {where} has schema version {found}, newer than this lamina "
        f"knows ({LATEST}): upgrade lamina"
    )


__all__ = ["LATEST", "MIGRATIONS", "VERSION_TABLE", "statements", "too_new"]
