"""The storage-driver contract, one suite run against every driver (as distribution does)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lamina.errors import Conflict, InvalidArgument, NotFound, StorageError
from lamina.registry.storage import FilesystemDriver, StorageDriver, blob_key, upload_key

DRIVERS: dict[str, Callable[[Path], StorageDriver]] = {
    "filesystem": lambda root: FilesystemDriver(root / "storage"),
}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    yield DRIVERS[request.param](tmp_path)


def test_put_read_stat(driver: StorageDriver) -> None:
    assert driver.stat("a/b/c") is None
    driver.put("a/b/c", b"hello")
    assert driver.read("a/b/c") == b"hello"
    info = driver.stat("a/b/c")
    assert info is not None and info.size == 5 and info.path == "a/b/c"


def test_put_replaces_atomically(driver: StorageDriver) -> None:
    driver.put("x", b"old")
    driver.put("x", b"new content")
    assert driver.read("x") == b"new content"


def test_missing_file_is_not_found(driver: StorageDriver) -> None:
    with pytest.raises(NotFound):
        driver.read("nope")
    with pytest.raises(NotFound):
        driver.reader("nope")


def test_reader_from_offset(driver: StorageDriver) -> None:
    driver.put("f", b"0123456789")
    with driver.reader("f", 4) as f:
        assert f.read(3) == b"456"
        assert f.read() == b"789"


def test_writer_publishes_only_on_clean_exit(driver: StorageDriver) -> None:
    with pytest.raises(RuntimeError), driver.writer("w") as w:
        w.write(b"partial")
        assert driver.stat("w") is None  # nothing visible while writing
        raise RuntimeError("client went away")
    assert driver.stat("w") is None
    with driver.writer("w") as w:
        w.write(b"ab")
        w.write(memoryview(b"cd"))
        assert w.size == 4
    assert driver.read("w") == b"abcd"


def test_filesystem_writer_leaves_no_temporary_files(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    with pytest.raises(RuntimeError), driver.writer("t") as w:
        w.write(b"x")
        raise RuntimeError
    driver.put("t2", b"y")
    assert list((tmp_path / "_tmp").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_tmp", "t2"]


def test_append_resumes_and_drops_bytes_past_the_offset(driver: StorageDriver) -> None:
    key = upload_key("u1")
    with driver.append(key, 0) as w:
        w.write(b"hello ")
        assert w.size == 6
    # A request that died half-way left bytes past the recorded offset (6).
    with driver.append(key, 6) as w:
        w.write(b"garbage")
    with driver.append(key, 6) as w:
        w.write(b"world")
        assert w.size == 11
    assert driver.read(key) == b"hello world"


def test_append_beyond_the_data_is_an_error(driver: StorageDriver) -> None:
    with pytest.raises(StorageError), driver.append(upload_key("missing"), 10) as w:
        w.write(b"x")
    with driver.append(upload_key("short"), 0) as w:
        w.write(b"abc")
    with pytest.raises(StorageError), driver.append(upload_key("short"), 10):
        pass


def test_move_is_a_rename(driver: StorageDriver) -> None:
    with driver.append(upload_key("m"), 0) as w:
        w.write(b"blob")
    driver.sync(upload_key("m"))
    target = blob_key("sha256:" + "ab" * 32)
    driver.move(upload_key("m"), target)
    assert driver.read(target) == b"blob"
    assert driver.stat(upload_key("m")) is None
    with pytest.raises(NotFound):
        driver.move(upload_key("m"), target)


def test_delete_file_and_tree(driver: StorageDriver) -> None:
    driver.put("d/one", b"1")
    driver.put("d/sub/two", b"2")
    assert driver.delete("d/one") is True
    assert driver.delete("d/one") is False
    assert driver.delete("d") is True
    assert driver.stat("d/sub/two") is None
    assert list(driver.walk("d")) == []


def test_walk_and_list(driver: StorageDriver) -> None:
    for key in ("blobs/sha256/aa/aa1", "blobs/sha256/bb/bb2", "uploads/x/data"):
        driver.put(key, key.encode())
    walked = sorted((i.path, i.size) for i in driver.walk("blobs"))
    assert walked == [("blobs/sha256/aa/aa1", 19), ("blobs/sha256/bb/bb2", 19)]
    assert driver.list("blobs/sha256") == ["aa", "bb"]
    assert driver.list("uploads") == ["x"]
    assert driver.list("nothing/here") == []


@pytest.mark.parametrize("bad", ["", "../x", "a/../../x", "/a/./b", "_tmp/x"])
def test_paths_cannot_escape(driver: StorageDriver, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        driver.put(bad, b"x")


def test_blob_key_layout() -> None:
    digest = "sha256:" + "0123" * 16
    assert blob_key(digest) == f"blobs/sha256/01/{'0123' * 16}"
    assert upload_key("abc") == "uploads/abc/data"


def test_filesystem_local_path(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    driver.put("a/b", b"x")
    path = driver.local_path("a/b")
    assert path is not None and os.path.isfile(path)


def test_lock_is_exclusive(driver: StorageDriver) -> None:
    with driver.lock("uploads/u/lock"):
        with pytest.raises(Conflict), driver.lock("uploads/u/lock"):
            pass
        with driver.lock("uploads/v/lock"):  # another name is another lock
            pass
    with driver.lock("uploads/u/lock"):  # released on exit
        pass


def test_filesystem_purges_old_temporary_files(tmp_path: Path) -> None:
    import time

    driver = FilesystemDriver(tmp_path)
    old, new = tmp_path / "_tmp" / "old", tmp_path / "_tmp" / "new"
    old.write_bytes(b"left by a killed writer")
    new.write_bytes(b"being written")
    os.utime(old, (time.time() - 100, time.time() - 100))
    assert driver.purge_temporary(time.time() - 50) == 1
    assert not old.exists() and new.exists()
