"""The filesystem storage driver: keys are paths under one root directory.

New files are written under ``<root>/_tmp`` (the same filesystem, so a rename publishes them),
fsynced, renamed into place, and the directory is fsynced, so ``kill -9`` at any moment leaves
either the old state or the new one.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from lamina.errors import InvalidArgument, NotFound, StorageError
from lamina.registry.storage.base import FileInfo, StorageDriver, object_key, upload_key

_TMP = "_tmp"


class _FileWriter:
    """Counts what it writes; ``write`` goes straight to the file descriptor."""

    __slots__ = ("_fd", "size")

    def __init__(self, fd: int, size: int = 0) -> None:
        self._fd = fd
        self.size = size

    def write(self, data: bytes | memoryview, /) -> int:
        view = memoryview(data)
        total = len(view)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self.size += total
        return total

    @property
    def state(self) -> str | None:
        return None  # a file needs nothing recorded to be continued


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemDriver(StorageDriver):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.location = str(self.root)
        (self.root / _TMP).mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> Path:
        # Keys are built by the registry from validated digests and ids; refuse anything that
        # could leave the root all the same.
        parts = path.strip("/").split("/")
        if not path or any(p in ("", ".", "..") for p in parts) or parts[0] == _TMP:
            raise InvalidArgument(f"invalid storage path {path!r}")
        return self.root.joinpath(*parts)

    def _mkdirs(self, directory: Path) -> None:
        """Create ``directory`` and make each new entry durable in its parent."""
        missing: list[Path] = []
        d = directory
        while not d.exists():
            missing.append(d)
            d = d.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                continue
            _fsync_dir(d.parent)

    def stat(self, path: str) -> FileInfo | None:
        try:
            st = os.stat(self._full(path))
        except FileNotFoundError:
            return None
        return FileInfo(path, st.st_size, st.st_mtime)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._full(path), "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            raise NotFound(f"storage: {path} not found") from None
        if offset:
            f.seek(offset)
        return f

    def read(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"storage: {path} not found") from None

    @contextmanager
    def writer(self, path: str) -> Iterator[_FileWriter]:
        target = self._full(path)
        tmp = self.root / _TMP / f"{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                yield _FileWriter(fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._mkdirs(target.parent)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextmanager
    def upload_writer(
        self, upload_id: str, state: str | None, offset: int
    ) -> Iterator[_FileWriter]:
        target = self._full(f"{upload_key(upload_id)}/data")
        if offset == 0:
            self._mkdirs(target.parent)
        flags = os.O_WRONLY | (os.O_CREAT if offset == 0 else 0)
        try:
            fd = os.open(target, flags, 0o644)
        except FileNotFoundError:
            raise StorageError(f"storage: the data of upload {upload_id} is missing") from None
        try:
            if os.fstat(fd).st_size < offset:
                raise StorageError(
                    f"storage: the data of upload {upload_id} is shorter than offset {offset}"
                )
            # Drop bytes a dead request left past the recorded offset.
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            yield _FileWriter(fd, offset)
        finally:
            os.close(fd)

    def upload_complete(self, upload_id: str, state: str | None, size: int) -> str:
        source = self._full(f"{upload_key(upload_id)}/data")
        key = object_key(upload_id)
        target = self._full(key)
        if size == 0 and not source.exists():  # an empty blob that never got a PATCH
            self._mkdirs(source.parent)
            source.touch()
        try:
            fd = os.open(source, os.O_RDWR)
        except FileNotFoundError:
            raise StorageError(f"storage: the data of upload {upload_id} is missing") from None
        try:
            if os.fstat(fd).st_size < size:
                raise StorageError(f"storage: the data of upload {upload_id} is incomplete")
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._mkdirs(target.parent)
        os.replace(source, target)
        _fsync_dir(target.parent)
        shutil.rmtree(source.parent, ignore_errors=True)
        return key

    def upload_abort(self, upload_id: str, state: str | None) -> None:
        self.delete(upload_key(upload_id))

    def delete(self, path: str) -> bool:
        full = self._full(path)
        try:
            os.unlink(full)
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            shutil.rmtree(full, ignore_errors=True)
        except OSError as exc:
            if exc.errno not in (errno.EISDIR, errno.EPERM):
                raise StorageError(f"storage: cannot delete {path}: {exc.strerror}") from exc
            shutil.rmtree(full, ignore_errors=True)
        return True

    def walk(self, prefix: str) -> Iterator[FileInfo]:
        base = self._full(prefix)
        for dirpath, _dirnames, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue  # removed while we walked
                yield FileInfo(f"{rel}/{name}", st.st_size, st.st_mtime)

    def purge_temporary(self, older_than: float) -> int:
        removed = 0
        for entry in os.scandir(self.root / _TMP):
            try:
                if entry.stat().st_mtime < older_than:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def list(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self._full(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []


__all__ = ["FilesystemDriver"]
