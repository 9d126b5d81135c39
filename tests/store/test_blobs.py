"""BlobStore: content-addressed, atomic, verified ingest."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from lamina.errors import IntegrityError, InvalidDigest, NotFound
from lamina.model.digest import Digest
from lamina.store.blobs import BlobStore
from lamina.store.scratch import Scratch


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    (tmp_path / "tmp").mkdir()
    return BlobStore(tmp_path / "blobs", Scratch(tmp_path / "tmp"))


def tmp_entries(blobs: BlobStore) -> list[str]:
    return os.listdir(blobs.root.parent / "tmp")


def test_put_and_read(blobs: BlobStore) -> None:
    digest = blobs.put(b"hello")
    assert digest == Digest.of(b"hello")
    assert blobs.has(digest)
    assert blobs.read(digest) == b"hello"
    assert blobs.size(digest) == 5
    assert blobs.path(digest) == blobs.root / "sha256" / digest.hex
    with blobs.open(digest) as f:
        assert f.read() == b"hello"
    assert list(blobs.digests()) == [digest]
    assert blobs.verify(digest)
    assert tmp_entries(blobs) == []


def test_put_is_idempotent(blobs: BlobStore) -> None:
    assert blobs.put(b"x") == blobs.put(b"x", Digest.of(b"x"))
    assert list(blobs.digests()) == [Digest.of(b"x")]


def test_put_wrong_digest(blobs: BlobStore) -> None:
    with pytest.raises(IntegrityError):
        blobs.put(b"x", Digest.of(b"y"))
    assert not blobs.has(Digest.of(b"y"))
    assert list(blobs.digests()) == []


def test_ingest_stream_and_iterable(blobs: BlobStore) -> None:
    data = os.urandom(3 << 20)
    digest, size = blobs.ingest(io.BytesIO(data), Digest.of(data), len(data))
    assert (digest, size) == (Digest.of(data), len(data))
    assert blobs.read(digest) == data
    other = b"abc" * 1000
    digest2, size2 = blobs.ingest(iter([other[:10], other[10:]]), None, None)
    assert digest2 == Digest.of(other) and size2 == len(other)


def test_ingest_present_does_not_read(blobs: BlobStore) -> None:
    digest = blobs.put(b"data")

    class Exploding(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise AssertionError("read a stream for a blob already present")

    assert blobs.ingest(Exploding(), digest, 4) == (digest, 4)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        blobs.ingest(Exploding(), digest, 5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "size", "expected"),
    [
        (b"abc", 4, Digest.of(b"abc")),  # short
        (b"abcd", 3, Digest.of(b"abcd")),  # long: stopped before the end
        (b"abc", 3, Digest.of(b"abd")),  # wrong content
        (b"abc", None, Digest.of(b"abd")),
        (b"abc", 2, None),
    ],
)
def test_ingest_mismatch_leaves_nothing(
    blobs: BlobStore, data: bytes, size: int | None, expected: Digest | None
) -> None:
    with pytest.raises(IntegrityError):
        blobs.ingest(io.BytesIO(data), expected, size)
    assert list(blobs.digests()) == []
    assert tmp_entries(blobs) == []


def test_writer_streaming(blobs: BlobStore) -> None:
    with blobs.writer(Digest.of(b"abcdef"), 6) as w:
        w.write(b"abc")
        # Not visible until committed.
        assert not blobs.has(Digest.of(b"abcdef"))
        w.write(memoryview(b"def"))
    assert w.digest == Digest.of(b"abcdef")
    assert blobs.read(Digest.of(b"abcdef")) == b"abcdef"


def test_writer_aborts_on_error(blobs: BlobStore) -> None:
    with pytest.raises(RuntimeError), blobs.writer() as w:
        w.write(b"partial")
        raise RuntimeError("source failed")
    assert list(blobs.digests()) == []
    assert tmp_entries(blobs) == []


def test_not_found_and_delete(blobs: BlobStore) -> None:
    missing = Digest.of(b"nope")
    assert not blobs.has(missing)
    with pytest.raises(NotFound):
        blobs.read(missing)
    with pytest.raises(NotFound):
        blobs.size(missing)
    digest = blobs.put(b"gone")
    assert blobs.delete(digest)
    assert not blobs.delete(digest)
    assert not blobs.has(digest)


def test_sha512(blobs: BlobStore) -> None:
    expected = Digest.of(b"x", "sha512")
    assert blobs.put(b"x", expected) == expected
    assert blobs.path(expected).parent.name == "sha512"
    assert expected in set(blobs.digests())


def test_path_refuses_non_digests(blobs: BlobStore) -> None:
    for bad in ("sha256:../../etc/passwd", "md5:" + "0" * 32, "sha256:" + "A" * 64):
        with pytest.raises(InvalidDigest):
            blobs.path(Digest(bad))


def test_concurrent_ingest_of_same_blob(blobs: BlobStore) -> None:
    data = os.urandom(2 << 20)
    digest = Digest.of(data)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            with blobs.writer(digest, len(data)) as w:
                for i in range(0, len(data), 65536):
                    w.write(data[i : i + 65536])
        except BaseException as err:  # collected and re-checked in the main thread
            errors.append(err)

    threads = [threading.Thread(target=ingest) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert blobs.verify(digest)
    assert tmp_entries(blobs) == []


def test_scratch_clean_keeps_live_entries(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    live = scratch.file("blob")
    stale = tmp_path / ("blob-1-" + "d" * 16)
    stale.write_bytes(b"left by a killed process")
    deep = tmp_path / ("snapshot-1-" + "d" * 16) / "fs" / "a"
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"x")
    os.chmod(deep, 0o500)
    with scratch.directory("snapshot") as live_dir:
        assert scratch.clean() == 2
        assert live.path.exists() and live_dir.exists()
        assert sorted(os.listdir(tmp_path)) == sorted([live.path.name, live_dir.name])
    assert not live_dir.exists()
    live.discard()
    assert os.listdir(tmp_path) == []


def test_a_directory_cleaned_between_its_mkdir_and_its_lock_is_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process's ``clean`` can take a new directory's lock before its maker does (the
    maker has made it but not yet opened it): the maker makes another, no FileNotFoundError."""
    from lamina.store import scratch as scratch_module

    scratch = Scratch(tmp_path)
    real_mkdir = os.mkdir
    made: list[str] = []

    def mkdir_then_cleaned(path: object, mode: int = 0o777) -> None:
        real_mkdir(path, mode)  # type: ignore[arg-type]
        made.append(str(path))
        if len(made) == 1:
            assert Scratch(tmp_path).clean() == 1  # unlocked yet: taken for a dead one's

    monkeypatch.setattr(scratch_module.os, "mkdir", mkdir_then_cleaned)
    with scratch.directory("snapshot") as path:
        monkeypatch.undo()
        assert str(path) == made[1] and path.is_dir()
        assert os.listdir(tmp_path) == [path.name]
    assert os.listdir(tmp_path) == []


def test_scratch_clean_spares_recent_foreign_entries(tmp_path: Path) -> None:
    from lamina.store import scratch as scratch_module

    scratch = Scratch(tmp_path)
    recent = tmp_path / "lamina-archive-abc123"
    recent.mkdir()
    old = tmp_path / "lamina-archive-old123"
    old.mkdir()
    (old / "f").write_bytes(b"x")
    past = time.time() - scratch_module.FOREIGN_MAX_AGE - 10
    os.utime(old, (past, past))
    assert scratch.clean() == 1
    assert recent.exists() and not old.exists()


def test_scratch_clean_removes_odd_entries_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / ("blob-1-" + "f" * 16)
    os.mkfifo(fifo)  # opening it would block
    link = tmp_path / ("blob-2-" + "f" * 16)
    link.symlink_to("/etc/passwd")
    assert Scratch(tmp_path).clean() == 2
    assert os.listdir(tmp_path) == []


def test_remove_tree_deeper_than_recursion_and_path_max(tmp_path: Path) -> None:
    """2,000 levels of 50-character names: past Python's recursion limit and PATH_MAX (4,096);
    a symlink to outside at every level is removed, never followed."""
    from lamina.store.scratch import remove_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    top = tmp_path / "top"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(2000):
        os.symlink(outside, "link", dir_fd=fd)
        os.mkdir("d" * 50, dir_fd=fd)
        deeper = os.open("d" * 50, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    os.close(fd)
    remove_tree(top)
    assert os.listdir(tmp_path) == ["outside"]
    assert (outside / "keep").read_bytes() == b"k"
    remove_tree(top)  # gone already: nothing to do
