"""SnapshotStore: one verified, atomically placed directory per layer ChainID."""

from __future__ import annotations

import io
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from helpers.images import Dir, Symlink, compress, make_layer
from lamina.errors import IntegrityError, InvalidDigest, NotFound
from lamina.model.chain import chain_ids
from lamina.model.digest import Digest
from lamina.model.mediatype import OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD
from lamina.store.lease import Lease
from lamina.store.scratch import Scratch
from lamina.store.snapshots import SnapshotStore, disk_usage

LAYER = make_layer(
    {
        "etc": Dir(),
        "etc/hello": b"hello\n",
        "bin": Dir(),
        "bin/big": b"x" * 100_000,
        "bin/link": Symlink("big"),
    }
)
DIFF_ID = Digest.of(LAYER)


def make_store(root: Path) -> SnapshotStore:
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    return SnapshotStore(root / "snapshots", Scratch(root / "tmp"), Lease(root / "gc.lock"))


@pytest.fixture
def snapshots(tmp_path: Path) -> SnapshotStore:
    return make_store(tmp_path)


@pytest.mark.parametrize(
    ("compression", "media_type"),
    [("none", OCI_LAYER), ("gzip", OCI_LAYER_GZIP), ("zstd", OCI_LAYER_ZSTD)],
)
def test_unpack(snapshots: SnapshotStore, compression: str, media_type: str) -> None:
    blob = compress(LAYER, compression)  # type: ignore[arg-type]
    size = snapshots.unpack(DIFF_ID, io.BytesIO(blob), media_type, DIFF_ID, 1 << 20)
    fs = snapshots.path(DIFF_ID)
    assert fs == snapshots.root / "sha256" / DIFF_ID.hex / "fs"
    assert (fs / "etc" / "hello").read_bytes() == b"hello\n"
    assert os.readlink(fs / "bin" / "link") == "big"
    # Docker's layer size: file and symlink bytes, no directories.
    assert size == 6 + 100_000 + 3 == disk_usage(fs) == snapshots.size(DIFF_ID)
    assert snapshots.meta(DIFF_ID)["tar_size"] == len(LAYER)
    assert snapshots.has(DIFF_ID)
    assert list(snapshots.chain_ids()) == [DIFF_ID]
    assert os.listdir(snapshots.root.parent / "tmp") == []


def test_unpack_is_idempotent_and_does_not_read(snapshots: SnapshotStore) -> None:
    size = snapshots.unpack(DIFF_ID, io.BytesIO(LAYER), OCI_LAYER, DIFF_ID, 1 << 20)
    stream = io.BytesIO(b"not read")
    assert snapshots.unpack(DIFF_ID, stream, OCI_LAYER, DIFF_ID, 1 << 20) == size
    assert stream.tell() == 0


def test_wrong_diff_id_leaves_nothing(snapshots: SnapshotStore) -> None:
    wrong = Digest.of(b"other")
    with pytest.raises(IntegrityError, match="does not match"):
        snapshots.unpack(wrong, io.BytesIO(LAYER), OCI_LAYER, wrong, 1 << 20)
    assert not snapshots.has(wrong)
    assert list(snapshots.chain_ids()) == []
    assert os.listdir(snapshots.root.parent / "tmp") == []


def test_size_bound(snapshots: SnapshotStore) -> None:
    blob = compress(LAYER, "gzip")
    with pytest.raises(IntegrityError):
        snapshots.unpack(DIFF_ID, io.BytesIO(blob), OCI_LAYER_GZIP, DIFF_ID, 10_000)
    assert not snapshots.has(DIFF_ID)
    assert os.listdir(snapshots.root.parent / "tmp") == []


def test_trailing_bytes_count_in_diff_id(snapshots: SnapshotStore) -> None:
    padded = LAYER + b"\0" * 4096
    diff_id = Digest.of(padded)
    snapshots.unpack(diff_id, io.BytesIO(padded), OCI_LAYER, diff_id, 1 << 20)
    assert snapshots.meta(diff_id)["tar_size"] == len(padded)


def test_remove(snapshots: SnapshotStore) -> None:
    size = snapshots.unpack(DIFF_ID, io.BytesIO(LAYER), OCI_LAYER, DIFF_ID, 1 << 20)
    # A read-only directory inside must not stop the removal (non-root users).
    os.chmod(snapshots.path(DIFF_ID) / "etc", 0o500)
    assert snapshots.remove(DIFF_ID) == size
    assert not snapshots.has(DIFF_ID)
    assert snapshots.remove(DIFF_ID) == 0
    with pytest.raises(NotFound):
        snapshots.size(DIFF_ID)
    assert os.listdir(snapshots.root.parent / "tmp") == []


def test_chain_id_must_be_a_digest(snapshots: SnapshotStore) -> None:
    with pytest.raises(InvalidDigest):
        snapshots.path(Digest("sha256:../../x"))


def test_stacked_chain_ids(snapshots: SnapshotStore) -> None:
    upper = make_layer({"etc": Dir(), "etc/other": b"2"})
    ids = chain_ids([DIFF_ID, Digest.of(upper)])
    snapshots.unpack(ids[0], io.BytesIO(LAYER), OCI_LAYER, DIFF_ID, 1 << 20)
    snapshots.unpack(ids[1], io.BytesIO(upper), OCI_LAYER, Digest.of(upper), 1 << 20)
    # Each snapshot is the layer's own diff, to be stacked as overlayfs lowerdirs.
    assert sorted(os.listdir(snapshots.path(ids[1]) / "etc")) == ["other"]
    assert set(snapshots.chain_ids()) == set(ids)


def test_concurrent_unpack_by_processes(tmp_path: Path) -> None:
    # A layer big enough that the unpacks overlap.
    big = make_layer({f"d/f{i}": os.urandom(20_000) for i in range(200)})
    diff_id = Digest.of(big)
    blob = compress(big, "gzip")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_unpack_same, args=(str(tmp_path), blob, diff_id, barrier, results))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    sizes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(set(sizes)) == 1
    store = make_store(tmp_path)
    assert list(store.chain_ids()) == [diff_id]
    assert len(os.listdir(store.path(diff_id) / "d")) == 200
    assert os.listdir(tmp_path / "tmp") == []


def _unpack_same(root: str, blob: bytes, diff_id: Digest, barrier: Any, results: Any) -> None:
    store = make_store(Path(root))
    barrier.wait()
    results.put(store.unpack(diff_id, io.BytesIO(blob), OCI_LAYER_GZIP, diff_id, 1 << 30))
