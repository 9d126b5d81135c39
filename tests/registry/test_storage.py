"""The storage-driver contract, one suite run against every driver (as distribution does): the
filesystem, and S3 on a real SeaweedFS."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lamina.errors import InvalidArgument, NotFound, StorageError
from lamina.registry.storage import (
    FilesystemDriver,
    StorageDriver,
    blob_key,
    object_key,
    upload_key,
)

from .cluster import S3_KEY, S3_SECRET, SeaweedFS


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    from lamina.registry.storage.s3 import S3Driver

    seaweed: SeaweedFS = request.getfixturevalue("seaweed")
    return S3Driver(
        bucket=seaweed.create_bucket(),
        endpoint=seaweed.endpoint,
        prefix="some/prefix",
        access_key=S3_KEY,
        secret_key=S3_SECRET,
    )


DRIVERS: dict[str, Callable[[pytest.FixtureRequest, Path], StorageDriver]] = {
    "filesystem": lambda request, root: FilesystemDriver(root / "storage"),
    "s3": _s3,
}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    yield DRIVERS[request.param](request, tmp_path)


def append(
    driver: StorageDriver, upload_id: str, state: str | None, offset: int, data: bytes
) -> str | None:
    """One request's worth of an upload; the state to record after it."""
    with driver.upload_writer(upload_id, state, offset) as w:
        for i in range(0, len(data), 1 << 20):
            w.write(data[i : i + (1 << 20)])
    return w.state


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


def test_upload_resumes_from_the_recorded_state(driver: StorageDriver) -> None:
    state = append(driver, "u1", None, 0, b"hello ")
    # A request that died half-way wrote past the recorded offset (6); its state is dropped.
    append(driver, "u1", state, 6, b"garbage")
    state = append(driver, "u1", state, 6, b"world")
    key = driver.upload_complete("u1", state, 11)
    assert key == object_key("u1")
    assert driver.read(key) == b"hello world"
    assert list(driver.walk(upload_key("u1"))) == []  # scratch data is gone


def test_upload_of_many_parts(driver: StorageDriver) -> None:
    """Chunks of every size, small ones first: the S3 driver keeps a tail until a part fills,
    and the blob is assembled by the store. Parts are 8 MiB."""
    import random

    data = random.Random(7).randbytes(19 << 20)
    cuts = [0, 100, 3 << 20, (3 << 20) + 1, 12 << 20, 19 << 20]
    state: str | None = None
    for start, end in itertools.pairwise(cuts):
        state = append(driver, "big", state, start, data[start:end])
    key = driver.upload_complete("big", state, len(data))
    with driver.reader(key) as f:
        assert f.read() == data
    with driver.reader(key, (12 << 20) - 3) as f:
        assert f.read(6) == data[(12 << 20) - 3 : (12 << 20) + 3]


def test_empty_upload(driver: StorageDriver) -> None:
    key = driver.upload_complete("empty", None, 0)
    assert driver.read(key) == b""


def test_upload_state_must_match_the_offset(driver: StorageDriver) -> None:
    with pytest.raises(StorageError), driver.upload_writer("missing", None, 10) as w:
        w.write(b"x")
    state = append(driver, "short", None, 0, b"abc")
    with pytest.raises(StorageError), driver.upload_writer("short", state, 10):
        pass
    with pytest.raises(StorageError):
        driver.upload_complete("short", state, 10)


def test_upload_abort_drops_everything(driver: StorageDriver) -> None:
    state = append(driver, "gone", None, 0, b"x" * (9 << 20))
    driver.upload_abort("gone", state)
    assert list(driver.walk(upload_key("gone"))) == []
    assert driver.stat(object_key("gone")) is None


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
def test_filesystem_paths_cannot_escape(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        FilesystemDriver(tmp_path).put(bad, b"x")


def test_key_layout() -> None:
    digest = "sha256:" + "0123" * 16
    assert blob_key(digest) == f"blobs/sha256/01/{'0123' * 16}"
    assert upload_key("abc") == "uploads/abc"
    assert object_key("abc") == "objects/abc"


def test_missing_object_at_an_offset(driver: StorageDriver) -> None:
    with pytest.raises(NotFound):
        driver.reader("nope", 5)


def test_s3_presigned_urls_serve_the_object(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import urllib.request

    driver = _s3(request, tmp_path)
    driver.put("objects/p", b"presigned bytes")
    url = driver.presign("objects/p", 60)
    assert url is not None and S3_SECRET not in url
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"presigned bytes"
    assert FilesystemDriver(tmp_path / "fs").presign("objects/p", 60) is None


def test_s3_unreachable_or_missing_bucket_is_one_clear_error(seaweed: SeaweedFS) -> None:
    from lamina.registry.storage.s3 import S3Driver

    from .servers import free_port

    port = free_port()
    dead = S3Driver(
        bucket="b", endpoint=f"http://127.0.0.1:{port}", access_key=S3_KEY, secret_key=S3_SECRET
    )
    with pytest.raises(StorageError) as info:
        dead.check()
    assert f"127.0.0.1:{port}" in str(info.value) and S3_SECRET not in str(info.value)
    missing = S3Driver(
        bucket="no-such-bucket", endpoint=seaweed.endpoint, access_key=S3_KEY, secret_key=S3_SECRET
    )
    with pytest.raises(StorageError, match="no-such-bucket"):
        missing.check()


def test_filesystem_purges_old_temporary_files(tmp_path: Path) -> None:
    import time

    driver = FilesystemDriver(tmp_path)
    old, new = tmp_path / "_tmp" / "old", tmp_path / "_tmp" / "new"
    old.write_bytes(b"left by a killed writer")
    new.write_bytes(b"being written")
    os.utime(old, (time.time() - 100, time.time() - 100))
    assert driver.purge_temporary(time.time() - 50) == 1
    assert not old.exists() and new.exists()
