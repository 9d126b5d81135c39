"""The SQLite metadata store, through the MetadataStore interface."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.registry.metadata import (
    ManifestReferenceError,
    MetadataStore,
    NewManifest,
    SQLiteMetadata,
)


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


@pytest.fixture
def md(tmp_path: Path) -> Iterator[MetadataStore]:
    store = SQLiteMetadata(tmp_path / "registry.db")
    yield store
    store.close()


def link(md: MetadataStore, repo: str, seed: str, size: int = 10) -> str:
    d = digest(seed)
    md.commit_blob(repo, d, size, lambda: None)
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


def test_commit_blob_places_once(md: MetadataStore) -> None:
    placed: list[str] = []
    md.create_upload("u1", "r")
    assert md.commit_blob("r", digest("b"), 5, lambda: placed.append("r"), "u1") is True
    assert md.get_upload("u1") is None  # the session ended in the same transaction
    assert md.commit_blob("s", digest("b"), 5, lambda: placed.append("s")) is False
    assert placed == ["r"]
    assert md.blob_size("r", digest("b")) == 5 and md.blob_size("s", digest("b")) == 5
    assert md.repository_exists("r") and md.repository_exists("s")


def test_commit_blob_rolls_back_when_placing_fails(md: MetadataStore) -> None:
    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        md.commit_blob("r", digest("b"), 5, fail)
    assert md.blob_size("r", digest("b")) is None


def test_mount(md: MetadataStore) -> None:
    d = link(md, "src", "layer", 42)
    assert md.mount_blob("dst", d, "src") == 42
    assert md.blob_size("dst", d) == 42
    assert md.mount_blob("dst2", d, "nowhere") is None
    assert md.blob_size("dst2", d) is None


def test_upload_offsets_are_optimistic(md: MetadataStore) -> None:
    md.create_upload("u", "r")
    assert md.advance_upload("u", 0, 10, digest("10 bytes"))
    assert not md.advance_upload("u", 0, 20, None)  # someone else moved it
    upload = md.get_upload("u")
    assert upload is not None and upload.offset == 10 and upload.repository == "r"
    assert md.count_uploads() == 1
    assert md.delete_upload("u") and not md.delete_upload("u")
    assert not md.advance_upload("u", 10, 20, None)


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
    assert not md.gc_delete_manifest("r", index.digest, future)  # tagged
    assert not md.gc_delete_manifest("r", child.digest, future)  # an index names it
    assert not md.gc_delete_links([("r", config)], future)  # a manifest names it
    assert not md.gc_delete_blob(config, future)  # linked
    md.delete_tag("r", "v1")
    assert not md.gc_delete_manifest("r", index.digest, time.time() - 10)  # too young
    assert md.gc_delete_manifest("r", index.digest, future)
    assert md.gc_delete_manifest("r", child.digest, future)
    assert md.gc_delete_links([("r", config)], future) == 1
    assert md.gc_delete_blob(config, future)
    removed: list[str] = []
    assert md.gc_remove_blob_file(config, lambda: removed.append(config))
    assert removed == [config]
    link(md, "r", "config")  # pushed again: the file must stay
    assert not md.gc_remove_blob_file(config, lambda: removed.append("again"))
    assert removed == [config]


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


def test_snapshot(md: MetadataStore) -> None:
    config = link(md, "r", "config")
    m = manifest("m", (config,))
    md.put_manifest("r", m, "v1")
    md.create_upload("u", "r")
    snap = md.gc_snapshot()
    assert [(r, d) for r, d, _p, _s in snap.manifests] == [("r", m.digest)]
    assert snap.tagged == {("r", m.digest)}
    assert snap.refs == [("r", m.digest, config, "blob")]
    assert [(r, d) for r, d, _t in snap.links] == [("r", config)]
    assert [u for u, _t in snap.uploads] == ["u"]


def test_concurrent_writers(tmp_path: Path) -> None:
    """Threads with their own connections, two store objects on one file (two workers)."""
    stores = [SQLiteMetadata(tmp_path / "db"), SQLiteMetadata(tmp_path / "db")]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        store = stores[n % 2]
        try:
            for i in range(40):
                d = digest(f"{n}-{i}")
                store.commit_blob(f"repo{n}", d, i, lambda: None)
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
