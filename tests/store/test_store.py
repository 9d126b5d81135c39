"""The Store facade: recording images, names, docker's lookup rules, deletion and gc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.images import make_image
from lamina.errors import Conflict, InvalidArgument, InvalidReference, NotFound, StorageError
from lamina.model.config import ImageConfig
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest
from lamina.model.reference import Reference
from lamina.store import Store

from .support import add_image


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "root")
    yield s  # type: ignore[misc]
    s.close()


def ref(text: str) -> Reference:
    return Reference.parse(text)


def test_layout(tmp_path: Path) -> None:
    root = tmp_path / "new" / "root"
    with Store(root):
        for sub in ("blobs/sha256", "snapshots/sha256", "containers", "tmp", "lamina.db"):
            assert (root / sub).exists()
        assert (root.stat().st_mode & 0o777) == 0o700


def test_put_image_and_read_back(store: Store) -> None:
    img = make_image(
        [{"a": b"1" * 10}, {"b": b"2" * 20}],
        {"config": {"Labels": {"k": "v"}}, "architecture": "arm64"},
    )
    record = add_image(store, img, ["nginx", "example.com:5000/x/y:v1"])
    assert record.id == img.config_digest
    assert record.manifest_digest == img.manifest_digest
    assert record.size == 30
    assert record.labels == {"k": "v"}
    assert record.architecture == "arm64" and record.os == "linux"
    assert [str(t) for t in record.tags] == [
        "docker.io/library/nginx:latest",
        "example.com:5000/x/y:v1",
    ]
    assert [layer.digest for layer in record.layers] == img.layer_digests
    assert [layer.diff_id for layer in record.layers] == img.diff_ids
    assert [layer.unpacked_size for layer in record.layers] == [10, 20]
    assert store.images() == [record]
    assert store.image(record.id) == record
    # Idempotent.
    assert add_image(store, img) == record
    assert len(store.images()) == 1


def test_shared_layers_are_stored_once(store: Store) -> None:
    base = {"etc/base": b"base"}
    a = add_image(store, make_image([base, {"a": b"a"}]))
    b = add_image(store, make_image([base, {"b": b"b"}]))
    assert a.layers[0] == b.layers[0]
    assert len(list(store.snapshots.chain_ids())) == 3


def test_put_image_refuses_missing_files(store: Store) -> None:
    img = make_image([{"a": b"1"}])
    config = ImageConfig.parse(img.config)
    manifest = Manifest.parse(img.manifest)
    with pytest.raises(StorageError, match="not in the store"):
        store.put_image(config, manifest, [])
    record = add_image(store, img)
    store.snapshots.remove(record.layers[0].chain_id)
    with pytest.raises(StorageError, match="snapshot"):
        store.put_image(config, manifest, record.layers)


def test_put_image_checks_consistency(store: Store) -> None:
    img = make_image([{"a": b"1"}])
    other = make_image([{"b": b"2"}])
    record = add_image(store, img)
    add_image(store, other)
    with pytest.raises(InvalidArgument):
        store.put_image(
            ImageConfig.parse(img.config), Manifest.parse(other.manifest), record.layers
        )


def test_resolve_like_docker(store: Store) -> None:
    one = add_image(store, make_image([{"a": b"1"}]), ["nginx:latest", "deadbeef"])
    two = add_image(store, make_image([{"b": b"2"}]), ["nginx:1.25"])
    assert store.resolve("nginx").id == one.id
    assert store.resolve("docker.io/library/nginx:latest").id == one.id
    assert store.resolve("nginx:1.25").id == two.id
    assert store.resolve(one.id).id == one.id
    assert store.resolve(one.id.hex).id == one.id
    assert store.resolve(one.id.short).id == one.id
    assert store.resolve("sha256:" + one.id.hex[:5]).id == one.id
    # A tag wins over an ID prefix, as in docker.
    assert store.resolve("deadbeef").id == one.id
    with pytest.raises(NotFound, match=r"^No such image: nginx:2$"):
        store.resolve("nginx:2")
    with pytest.raises(NotFound, match=r"^No such image: redis:latest$"):
        store.resolve("redis")
    with pytest.raises(NotFound, match=r"^No such image: sha256:0{64}$"):
        store.resolve("0" * 64)
    with pytest.raises(InvalidReference):
        store.resolve("UPPER")
    store.add_repo_digest(two.id, "nginx", two.manifest_digest)
    assert store.resolve(f"nginx@{two.manifest_digest}").id == two.id
    assert store.image(two.id).repo_digests == [f"nginx@{two.manifest_digest}"]
    with pytest.raises(NotFound, match=r"No such image: redis@sha256:"):
        store.resolve(f"redis@{two.manifest_digest}")


def test_ambiguous_prefix(store: Store) -> None:
    records = [add_image(store, make_image([{"f": str(i).encode()}])) for i in range(40)]
    first = {r.id.hex[0] for r in records}
    # With 40 images two share a first hex digit (pigeonhole: 16 digits).
    shared = next(c for c in first if sum(r.id.hex[0] == c for r in records) > 1)
    with pytest.raises(
        InvalidArgument, match=f"^multiple IDs found with provided prefix: {shared}$"
    ):
        store.resolve(shared)
    unique = min(records, key=lambda r: r.id).id.hex[:12]
    assert store.resolve(unique).id.hex.startswith(unique)


def test_tag_untag(store: Store) -> None:
    a = add_image(store, make_image([{"a": b"1"}]))
    b = add_image(store, make_image([{"b": b"1"}]))
    assert store.tag(a.id, ref("x")) == ref("x:latest")
    assert store.tags_of(a.id) == [ref("x:latest")]
    store.tag(b.id, ref("x"))  # moves the tag
    assert store.tags_of(a.id) == []
    assert store.resolve("x").id == b.id
    with pytest.raises(InvalidReference, match="digest"):
        store.tag(a.id, ref(f"x@{a.manifest_digest}"))
    with pytest.raises(NotFound):
        store.tag(Digest.of(b"none"), ref("y"))
    assert store.untag(ref("x"))
    assert not store.untag(ref("x"))
    store.add_repo_digest(a.id, ref("x"), a.manifest_digest)
    assert store.untag(ref(f"x@{a.manifest_digest}"))
    assert store.image(a.id).repo_digests == []


def test_delete_and_gc(store: Store) -> None:
    base = {"etc/base": b"b" * 1000}
    keep = add_image(store, make_image([base, {"keep": b"k"}]), ["keep"])
    gone = add_image(store, make_image([base, {"gone": b"g" * 500}]), ["gone"])
    store.add_repo_digest(gone.id, "gone", gone.manifest_digest)
    before_blobs = set(store.blobs.digests())
    store.delete_image(gone.id)
    with pytest.raises(NotFound):
        store.image(gone.id)
    with pytest.raises(NotFound):
        store.resolve("gone")
    with pytest.raises(NotFound):
        store.delete_image(gone.id)
    reclaimed = store.gc()
    assert reclaimed >= 500
    after = set(store.blobs.digests())
    assert gone.id not in after and gone.manifest_digest not in after
    assert gone.layers[1].digest not in after
    assert gone.layers[0].digest in after  # shared with the kept image
    assert before_blobs - after == {gone.id, gone.manifest_digest, gone.layers[1].digest}
    assert set(store.snapshots.chain_ids()) == {layer.chain_id for layer in keep.layers}
    assert store.resolve("keep").id == keep.id
    assert store.gc() == 0


def test_gc_removes_unrecorded_files_and_stale_tmp(store: Store) -> None:
    stray = store.blobs.put(b"stray")
    (store.root / "tmp" / ("blob-1-" + "d" * 16)).write_bytes(b"partial")
    assert store.gc() == 5
    assert not store.blobs.has(stray)
    assert os.listdir(store.root / "tmp") == []


def test_container_blocks_delete(store: Store) -> None:
    img = add_image(store, make_image([{"a": b"1"}]))
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO containers (id, name, image_id, created) VALUES ('c1', 'n', ?, 0)",
            (img.id,),
        )
    with pytest.raises(Conflict):
        store.delete_image(img.id)
    store.gc()
    assert store.blobs.has(img.id)


def test_parent_and_children(store: Store) -> None:
    parent = add_image(store, make_image([{"a": b"1"}]))
    child = add_image(store, make_image([{"a": b"1"}, {"b": b"2"}]), parent=parent.id)
    assert child.parent == parent.id
    assert store.children(parent.id) == [child.id]
    store.delete_image(parent.id)
    assert store.image(child.id).parent is None
    with pytest.raises(NotFound):
        add_image(store, make_image([{"c": b"3"}]), parent=parent.id)


def test_transaction_groups_writes(store: Store) -> None:
    img = add_image(store, make_image([{"a": b"1"}]))
    with pytest.raises(RuntimeError), store.transaction():
        store.tag(img.id, ref("a"))
        store.tag(img.id, ref("b"))
        raise RuntimeError("abort")
    assert store.tags_of(img.id) == []


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        record = add_image(s, make_image([{"a": b"1"}]), ["a:1"])
    with Store(tmp_path) as s:
        assert s.resolve("a:1") == record


def test_images_is_a_few_queries_on_a_thousand_images(tmp_path: Path) -> None:
    """`lamina images` budget: listing 1,000 images must be a few queries, not N+1.

    Counted, not timed: the statements SQLite runs are the same on a quiet or a busy machine
    (bench/images.py measures the time)."""
    with Store(tmp_path) as s:
        img = make_image([{"a": b"1"}, {"b": b"2"}, {"c": b"3"}])
        add_image(s, img)
        record = s.image(img.config_digest)
        # Clone the image's metadata row 1,000 times under fake IDs (the files are shared).
        with s.transaction() as conn:
            for i in range(1000):
                fake = Digest.of(str(i).encode())
                conn.execute(
                    "INSERT INTO images SELECT ?, manifest_digest, manifest_media_type, created,"
                    " size, NULL, added + ?, os, architecture, variant, labels FROM images"
                    " WHERE id = ?",
                    (fake, i, record.id),
                )
                conn.execute(
                    "INSERT INTO image_layers SELECT ?, position, chain_id, digest, media_type,"
                    " size FROM image_layers WHERE image_id = ?",
                    (fake, record.id),
                )
                conn.execute(
                    "INSERT INTO tags VALUES (?, ?, ?, 0)", ("docker.io/library/r", f"t{i}", fake)
                )
    with Store(tmp_path) as s:
        statements: list[str] = []
        s.db.conn.set_trace_callback(statements.append)
        images = s.images()
        s.db.conn.set_trace_callback(None)
    assert len(images) == 1001
    assert all(len(i.layers) == 3 for i in images)
    selects = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
    assert 0 < len(selects) <= 6, selects


def test_audit_finds_damage(store: Store) -> None:
    record = add_image(store, make_image([{"a": b"1"}]), ["a"])
    assert store.audit() == []
    store.blobs.path(record.layers[0].digest).write_bytes(b"bit rot")
    store.snapshots.remove(record.layers[0].chain_id)
    problems = store.audit()
    assert any("does not match its digest" in p for p in problems)
    assert any("snapshot" in p and "missing" in p for p in problems)
