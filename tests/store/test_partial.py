"""PartialBlob: resumable downloads, written a block at a time by a thread of their own."""

from __future__ import annotations

import fcntl
import os
import random
import threading
from pathlib import Path

import pytest

from lamina.errors import IntegrityError, StorageError
from lamina.model.digest import Digest
from lamina.store import direct
from lamina.store.blobs import BlobStore
from lamina.store.direct import BLOCK
from lamina.store.scratch import Scratch


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    (tmp_path / "tmp").mkdir()
    return BlobStore(tmp_path / "blobs", Scratch(tmp_path / "tmp"))


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "blob-writer"]


def chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[i : i + n])
        i, k = i + n, k + 1
    return out


# Sizes that straddle block boundaries and page alignment in every way.
DATA = random.Random(3).randbytes(3 * BLOCK + 12345)
SIZES = [1, 4095, 65536, 262144 + 7, BLOCK, 3]


def test_bytes_reach_the_blob_whatever_the_chunking(blobs: BlobStore) -> None:
    digest = Digest.of(DATA)
    partial = blobs.partial(digest, len(DATA))
    assert partial.offset == 0
    for chunk in chunks(DATA, SIZES):
        partial.write(chunk)
    assert partial.received == len(DATA)
    partial.commit()
    assert blobs.path(digest).read_bytes() == DATA
    assert not partial.path.exists()
    assert writers() == []  # the writer thread is gone


@pytest.mark.parametrize("kept", [2600, 4096, BLOCK + 1])
def test_resumed_at_any_offset(blobs: BlobStore, kept: int) -> None:
    digest = Digest.of(DATA)
    first = blobs.partial(digest, len(DATA))
    for chunk in chunks(DATA[:kept], SIZES):
        first.write(chunk)
    first.keep()  # everything received is in the file, for the next attempt
    assert first.path.read_bytes() == DATA[:kept]

    second = blobs.partial(digest, len(DATA))
    assert second.offset == kept
    assert b"".join(second.existing()) == DATA[:kept]
    for chunk in chunks(DATA[kept:], SIZES):
        second.write(chunk)
    second.commit()
    assert blobs.path(digest).read_bytes() == DATA


def test_wrong_bytes_are_discarded(blobs: BlobStore) -> None:
    partial = blobs.partial(Digest.of(DATA), len(DATA))
    partial.write(DATA[:-1] + b"?")
    with pytest.raises(IntegrityError):
        partial.commit()
    assert not partial.path.exists()
    assert not blobs.has(Digest.of(DATA))
    assert writers() == []


def test_a_failed_write_is_a_storage_error_and_nothing_is_kept(
        blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwrite
    calls = 0

    def failing(fd: int, data: bytes, offset: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(direct.os, "pwrite", failing)
    digest = Digest.of(DATA)
    partial = blobs.partial(digest, len(DATA))
    with pytest.raises(StorageError, match="No space left on device"):
        for chunk in chunks(DATA, SIZES):
            partial.write(chunk)
        partial.commit()
    partial.keep()  # as a pull does when it fails: the broken file is not kept for a resume
    assert not partial.path.exists()
    assert not blobs.has(digest)
    assert writers() == []


def test_the_blob_skips_the_page_cache_where_the_file_system_allows(
        blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Direct I/O where it works, page-cache writes where it does not; the same bytes."""
    digest = Digest.of(DATA)
    partial = blobs.partial(digest, len(DATA))
    seen: list[bool] = []
    real = os.pwrite

    def spy(fd: int, data: bytes, offset: int) -> int:
        seen.append(bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT))
        return real(fd, data, offset)

    monkeypatch.setattr(direct.os, "pwrite", spy)
    for chunk in chunks(DATA, SIZES):
        partial.write(chunk)
    partial.commit()
    assert blobs.path(digest).read_bytes() == DATA
    assert seen[-1] is False  # the unaligned tail goes through the page cache
    if any(seen):
        assert seen[:3] == [True, True, True]  # whole aligned blocks, direct


@pytest.mark.parametrize("refusal", ["fcntl", "pwrite"])
def test_file_systems_without_direct_io_get_ordinary_writes(
        blobs: BlobStore, monkeypatch: pytest.MonkeyPatch, refusal: str) -> None:
    """Some refuse O_DIRECT when it is set (overlayfs), some at the first write (FUSE)."""
    real_fcntl, real_pwrite = fcntl.fcntl, os.pwrite

    def no_direct_flag(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_fcntl(fd, cmd, arg)

    def no_direct_write(fd: int, data: bytes, offset: int) -> int:
        if real_fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_pwrite(fd, data, offset)

    if refusal == "fcntl":
        monkeypatch.setattr(direct.fcntl, "fcntl", no_direct_flag)
    else:
        monkeypatch.setattr(direct.os, "pwrite", no_direct_write)
    digest = Digest.of(DATA)
    partial = blobs.partial(digest, len(DATA))
    for chunk in chunks(DATA, SIZES):
        partial.write(chunk)
    partial.commit()
    assert blobs.path(digest).read_bytes() == DATA


def test_a_download_committed_between_open_and_lock_is_not_taken_up(
        blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second pull opens the partial file's name just before the first commits it (renames
    it into ``blobs/`` and unlocks it): the inode it opened is now the blob, still with one
    link. It must start a new download, not resume (and later rename away) the blob."""
    from lamina.store import partial as partial_module

    digest = Digest.of(DATA)
    first = blobs.partial(digest, len(DATA))
    for chunk in chunks(DATA, [BLOCK]):
        first.write(chunk)
    real_open = os.open
    pending = [first]

    def open_then_first_commits(path: object, flags: int, mode: int = 0o777, **kw: int) -> int:
        fd = real_open(path, flags, mode, **kw)  # type: ignore[arg-type]
        if pending and str(path) == str(first.path):
            pending.pop().commit()
        return fd

    monkeypatch.setattr(partial_module.os, "open", open_then_first_commits)
    try:
        second = blobs.partial(digest, len(DATA))
    finally:
        monkeypatch.undo()
    assert not pending
    final = blobs.path(digest)
    assert second.resumable and second.offset == 0  # a fresh file under the partial name
    assert os.fstat(second.fd).st_ino != os.stat(final).st_ino
    second.discard()
    assert final.read_bytes() == DATA  # the committed blob was not touched


def test_a_discarded_download_replaced_by_a_newer_one_is_not_taken_up(blobs: BlobStore) -> None:
    """Opened, then discarded by its holder and made again by a third pull before our lock:
    the name is the third pull's, locked by it, so ours is a private download."""
    digest = Digest.of(DATA)
    first = blobs.partial(digest, len(DATA))
    stale = os.open(first.path, os.O_RDWR)
    first.discard()
    third = blobs.partial(digest, len(DATA))
    try:
        fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the old inode is free to lock
        second = blobs.partial(digest, len(DATA))
        assert not second.resumable and second.path != third.path
        second.discard()
    finally:
        os.close(stale)
        third.discard()
