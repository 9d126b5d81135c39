"""The metadata store, through the MetadataStore interface, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.errors import StorageError
from lamina.registry.metadata import (
    ManifestReferenceError,
    MetadataStore,
    NewManifest,
    PostgresMetadata,
    SQLiteMetadata,
    UploadClaimLost,
)

from .cluster import PG_PASSWORD, PostgresCluster


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


@pytest.fixture(params=["sqlite", "postgres"])
def md(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        store = SQLiteMetadata(tmp_path / "registry.db")
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        store = PostgresMetadata(cluster.create_database())
    yield store
    store.close()


def link(md: MetadataStore, repo: str, seed: str, size: int = 10) -> str:
    d = digest(seed)
    md.commit_blob(repo, d, size, f"objects/{seed}")
    return d


def manifest(
    seed: str, blobs: tuple[str, ...] = (), manifests: tuple[str, ...] = (), **kw: str
) -> NewManifest:
    return NewManifest(
        digest=digest(seed),
        media_type="application/vnd.oci.image.manifest.v1+json",
        raw=seed.encode(),
        blobs=blobs,
        manifests=manifests,
        **kw,  # type: ignore[arg-type]
    )


def test_manifests_by_tag_and_digest(md: MetadataStore) -> None:
    config = link(md, "r", "config")
    m = manifest("m1", (config,))
    md.put_manifest("r", m, "v1")
    by_tag = md.get_manifest("r", "v1")
    assert by_tag is not None and by_tag.raw == b"m1" and by_tag.digest == m.digest
    assert md.get_manifest("r", m.digest) == by_tag
    assert md.get_manifest("other", "v1") is None
    # Moving a tag.
    m2 = manifest("m2", (config,))
    md.put_manifest("r", m2, "v1")
    found = md.get_manifest("r", "v1")
    assert found is not None and found.digest == m2.digest
    assert md.get_manifest("r", m.digest) is not None  # the old one is untagged, not gone


def test_manifest_references_are_checked(md: MetadataStore) -> None:
    config = link(md, "r", "config")
    link(md, "elsewhere", "layer")
    with pytest.raises(ManifestReferenceError) as info:
        md.put_manifest("r", manifest("m", (config, digest("layer"))), "v1")
    assert info.value.missing == [digest("layer")]
    with pytest.raises(ManifestReferenceError):
        md.put_manifest("r", manifest("index", manifests=(digest("child"),)), None)
    assert md.get_manifest("r", "v1") is None


def test_commit_blob_records_the_first_object(md: MetadataStore) -> None:
    md.create_upload("u1", "r")
    assert md.claim_upload("u1", 0, "w", time.time(), 60) is not None
    assert md.commit_blob("r", digest("b"), 5, "objects/u1", "u1", "w") is True
    assert md.get_upload("u1") is None  # the session ended in the same transaction
    # The same digest again: the second copy is redundant, the first object stays.
    assert md.commit_blob("s", digest("b"), 5, "objects/u2") is False
    assert md.blob_link("s", digest("b"))[2] == "objects/u1"  # type: ignore[index]
    assert md.blob_size("r", digest("b")) == 5 and md.blob_size("s", digest("b")) == 5
    assert md.repository_exists("r") and md.repository_exists("s")
    assert md.known_keys(["objects/u1", "objects/u2"]) == {"objects/u1"}


def test_commit_blob_needs_the_claim(md: MetadataStore) -> None:
    md.create_upload("u1", "r")
    md.claim_upload("u1", 0, "w", time.time(), 60)
    with pytest.raises(UploadClaimLost):
        md.commit_blob("r", digest("b"), 5, "objects/u1", "u1", "someone else")
    assert md.blob_size("r", digest("b")) is None and md.get_upload("u1") is not None


def test_mount(md: MetadataStore) -> None:
    d = link(md, "src", "layer", 42)
    assert md.mount_blob("dst", d, "src") == 42
    assert md.blob_size("dst", d) == 42
    assert md.mount_blob("dst2", d, "nowhere") is None
    assert md.blob_size("dst2", d) is None


def test_upload_claims_are_compare_and_swap(md: MetadataStore) -> None:
    now = time.time()
    md.create_upload("u", "r")
    assert md.claim_upload("u", 0, "a", now, 60) is not None
    assert md.claim_upload("u", 0, "b", now, 60) is None  # a holds it
    assert not md.advance_upload("u", "b", 0, 10, None, None)  # not b's to move
    assert md.advance_upload("u", "a", 0, 10, "sha256:c3RhdGU=", '{"parts": []}')
    assert not md.advance_upload("u", "a", 0, 20, None, None)  # released, and moved on
    assert md.claim_upload("u", 0, "b", now, 60) is None  # stale offset
    upload = md.get_upload("u")
    assert upload is not None and upload.offset == 10 and upload.repository == "r"
    assert upload.state == '{"parts": []}' and upload.writer is None
    assert upload.hash_state == "sha256:c3RhdGU="
    # A claim whose request died is taken over once its lease runs out.
    assert md.claim_upload("u", 10, "c", now, 60) is not None
    assert md.claim_upload("u", 10, "d", now + 30, 60) is None
    assert md.claim_upload("u", 10, "d", now + 61, 60) is not None
    md.release_upload("u", "d")
    assert md.claim_upload("u", 10, "e", now + 62, 60) is not None
    assert md.count_uploads() == 1
    assert md.delete_upload("u") and not md.delete_upload("u")
    assert md.upload_ids(["u", "v"]) == set()


def test_tags_and_catalog_pages(md: MetadataStore) -> None:
    config = link(md, "r", "config")
    for tag in ["b", "a", "c"]:
        md.put_manifest("r", manifest("m", (config,)), tag)
    assert md.list_tags("r", None, None) == ["a", "b", "c"]
    assert md.list_tags("r", "a", 1) == ["b"]
    link(md, "z", "x")
    link(md, "m/n", "x")
    assert md.list_repositories(None, None) == ["m/n", "r", "z"]
    assert md.list_repositories("m/n", 1) == ["r"]


def test_referrers(md: MetadataStore) -> None:
    config = link(md, "r", "config")
    subject = digest("subject")
    md.put_manifest("r", manifest("sig", (config,), subject=subject, artifact_type="a/sig"), None)
    md.put_manifest(
        "r",
        manifest(
            "sbom", (config,), subject=subject, artifact_type="a/sbom", annotations='{"k":"v"}'
        ),
        None,
    )
    found = md.referrers("r", subject, None)
    assert sorted(r.artifact_type or "" for r in found) == ["a/sbom", "a/sig"]
    (sbom,) = md.referrers("r", subject, "a/sbom")
    assert sbom.annotations == '{"k":"v"}' and sbom.size == 4
    assert md.referrers("other", subject, None) == []


def test_delete_manifest_and_tag(md: MetadataStore) -> None:
    config = link(md, "r", "config")
    m = manifest("m", (config,))
    md.put_manifest("r", m, "v1")
    md.put_manifest("r", m, "v2")
    assert md.delete_tag("r", "v1") and not md.delete_tag("r", "v1")
    assert md.delete_manifest("r", m.digest)
    assert md.list_tags("r", None, None) == []
    assert not md.delete_manifest("r", m.digest)


def test_gc_conditions(md: MetadataStore) -> None:
    future = time.time() + 10
    config = link(md, "r", "config")
    child = manifest("child", (config,))
    md.put_manifest("r", child, None)
    index = manifest("index", manifests=(child.digest,))
    md.put_manifest("r", index, "v1")
    assert md.gc_manifest_candidates(future, None, 10) == []
    assert not md.gc_delete_manifest("r", index.digest, future)  # tagged
    assert not md.gc_delete_manifest("r", child.digest, future)  # an index names it
    assert md.gc_link_candidates(future, None, 10) == []
    assert not md.gc_delete_links([("r", config)], future)  # a manifest names it
    assert md.gc_blob_candidates(future, None, 10) == []
    assert not md.gc_delete_blob(config, future)  # linked
    md.delete_tag("r", "v1")
    assert md.gc_manifest_candidates(future, None, 10) == [("r", index.digest)]
    assert not md.gc_delete_manifest("r", index.digest, time.time() - 10)  # too young
    assert md.gc_delete_manifest("r", index.digest, future)
    assert md.gc_delete_manifest("r", child.digest, future)
    assert md.gc_link_candidates(future, None, 10) == [("r", config)]
    assert md.gc_delete_links([("r", config)], future) == 1
    assert [b.digest for b in md.gc_blob_candidates(future, None, 10)] == [config]
    gone = md.gc_delete_blob(config, future)
    assert gone is not None and gone.key == "objects/config"
    assert md.known_keys(["objects/config"]) == set()


def test_gc_batches_are_keyset_pages(md: MetadataStore) -> None:
    future = time.time() + 10
    for i in range(7):
        md.commit_blob(f"r{i}", digest(f"b{i}"), 1, f"objects/{i}")
    pages, after = [], None
    while page := md.gc_link_candidates(future, after, 3):
        pages.append(page)
        after = page[-1]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(x for p in pages for x in p) == sorted(
        (f"r{i}", digest(f"b{i}")) for i in range(7)
    )


def test_upload_sessions_for_gc(md: MetadataStore) -> None:
    md.create_upload("old", "r")
    future = time.time() + 10
    assert md.gc_upload_candidates(future, None, 10) == ["old"]
    assert md.gc_upload_candidates(time.time() - 10, None, 10) == []
    assert not md.gc_delete_upload("old", time.time() - 10)
    ended = md.gc_delete_upload("old", future)
    assert ended is not None and ended.id == "old"


def test_gc_keeps_referrers_of_present_subjects(md: MetadataStore) -> None:
    future = time.time() + 10
    config = link(md, "r", "config")
    subject = manifest("subject", (config,))
    md.put_manifest("r", subject, None)
    sig = manifest("sig", (config,), subject=subject.digest)
    md.put_manifest("r", sig, None)
    assert not md.gc_delete_manifest("r", sig.digest, future)
    assert md.gc_delete_manifest("r", subject.digest, future)
    assert md.gc_delete_manifest("r", sig.digest, future)


def test_concurrent_writers(tmp_path: Path) -> None:
    """Threads with their own connections, two store objects on one file (two workers)."""
    stores = [SQLiteMetadata(tmp_path / "db"), SQLiteMetadata(tmp_path / "db")]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        store = stores[n % 2]
        try:
            for i in range(40):
                d = digest(f"{n}-{i}")
                store.commit_blob(f"repo{n}", d, i, f"objects/{n}-{i}")
                store.put_manifest(f"repo{n}", manifest(f"{n}-{i}-m", (d,)), f"t{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n in range(8):
        assert len(stores[0].list_tags(f"repo{n}", None, None)) == 40
    for s in stores:
        s.close()


def test_concurrent_writers_on_postgres(postgres: PostgresCluster) -> None:
    """Two pools on one database (two replicas), eight threads racing on shared digests: the
    serializable transactions are retried, nothing is lost."""
    dsn = postgres.create_database()
    stores = [PostgresMetadata(dsn), PostgresMetadata(dsn)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        store = stores[n % 2]
        try:
            for i in range(20):
                d = digest(f"shared-{i}")  # every thread pushes the same blobs
                store.commit_blob(f"repo{n}", d, i, f"objects/{n}-{i}")
                store.put_manifest(f"repo{n}", manifest(f"{n}-{i}-m", (d,)), f"t{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n in range(8):
        assert len(stores[0].list_tags(f"repo{n}", None, None)) == 20
    keys = {
        stores[1].blob_link(f"repo{n}", digest(f"shared-{i}"))[2]
        for n in range(8)
        for i in range(20)
    }  # type: ignore[index]
    assert len(keys) == 20  # one object per digest, whoever won
    for s in stores:
        s.close()


def test_schema_migrations_and_newer_schema_refusal(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    import sqlite3

    from lamina.registry.metadata.schema import LATEST

    store = SQLiteMetadata(tmp_path / "db")
    store.close()
    conn = sqlite3.connect(tmp_path / "db")
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(LATEST,)]
    conn.execute("UPDATE schema_version SET version = ?", (LATEST + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match=f"schema version {LATEST + 1}, newer than"):
        SQLiteMetadata(tmp_path / "db")

    import psycopg

    dsn = postgres.create_database()
    PostgresMetadata(dsn).close()
    PostgresMetadata(dsn).close()  # a second replica finds it migrated
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("UPDATE schema_version SET version = %s", (LATEST + 1,))
    with pytest.raises(StorageError, match="newer than this lamina knows") as info:
        PostgresMetadata(dsn)
    assert PG_PASSWORD not in str(info.value)


def test_a_database_from_before_versions_is_migrated(tmp_path: Path) -> None:
    """A registry.db written before migrations were numbered: version 1's tables, no key."""
    import sqlite3

    from lamina.registry.metadata.schema import statements

    conn = sqlite3.connect(tmp_path / "db")
    for statement in statements(1, "sqlite"):
        conn.execute(statement)
    d = "sha256:" + "ab" * 32
    conn.execute("INSERT INTO blobs VALUES (?, 3, 0)", (d,))
    conn.execute("INSERT INTO repo_blobs VALUES ('r', ?, 0)", (d,))
    conn.commit()
    conn.close()
    store = SQLiteMetadata(tmp_path / "db")
    assert store.blob_link("r", d) == (3, 0.0, f"blobs/sha256/ab/{'ab' * 32}")
    store.close()


def test_unreachable_postgres_is_one_clear_error() -> None:
    from .servers import free_port

    port = free_port()
    with pytest.raises(StorageError) as info:
        PostgresMetadata(f"host=127.0.0.1 port={port} dbname=x user=u password=hunter2")
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "hunter2" not in message
    assert "\n" not in message
