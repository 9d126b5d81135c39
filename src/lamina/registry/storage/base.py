"""The storage-driver contract: where blob bytes and upload data live.

Paths are driver-relative keys with "/" separators (``blobs/sha256/ab/ab12…``,
``uploads/<id>/data``); a driver maps them to files, objects or whatever it has. The contract is
deliberately small so an S3 driver can follow the filesystem one, and one shared test suite
(``tests/registry/test_storage.py``) runs against every driver.

Guarantees every driver gives:

- ``writer`` and ``put`` publish atomically: a reader sees the old content (or nothing) until
  the new content is complete and durable, never a partial file;
- ``move`` is atomic and durable when it returns (the metadata commit follows it);
- ``append`` continues a resumable upload at a given offset, dropping any bytes past it (left by
  a request that died half-way), so the offset recorded in the metadata is the truth;
- ``lock`` is exclusive across the processes (and hosts) sharing the storage;
- ``delete`` removes a file, or a whole tree under a prefix, and reports whether anything was
  there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    mtime: float  # seconds since the epoch, of the last write


class BlobWriter(Protocol):
    """A file being written: ``write`` chunks, then the context manager publishes it."""

    def write(self, data: bytes | memoryview, /) -> int: ...

    @property
    def size(self) -> int: ...


class StorageDriver(ABC):
    """Byte storage under one root. Every method is blocking; callers run it in a thread."""

    @abstractmethod
    def stat(self, path: str) -> FileInfo | None:
        """The file's size and mtime, or None if it does not exist."""

    @abstractmethod
    def local_path(self, path: str) -> str | None:
        """A filesystem path a server may send directly, or None if the driver has none."""

    @abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """Open for reading from ``offset``; raise NotFound if absent."""

    @abstractmethod
    def read(self, path: str) -> bytes:
        """The whole (small) file; raise NotFound if absent."""

    @abstractmethod
    def writer(self, path: str) -> AbstractContextManager[BlobWriter]:
        """Write a new file through a temporary one; publish atomically on a clean exit."""

    def put(self, path: str, data: bytes) -> None:
        with self.writer(path) as w:
            w.write(data)

    @abstractmethod
    def append(self, path: str, offset: int) -> AbstractContextManager[BlobWriter]:
        """Continue the upload file at ``offset`` (creating it when ``offset`` is 0).

        Bytes beyond ``offset`` are discarded first. The data is flushed on a clean exit; it is
        made durable by ``move`` when the upload is committed.
        """

    @abstractmethod
    def lock(self, path: str) -> AbstractContextManager[None]:
        """Hold an exclusive lock named ``path`` across processes; Conflict if it is held.

        Upload writers take it so that two requests never write one upload at once.
        """

    def sync(self, path: str) -> None:
        """Make a written file durable now, so that a later ``move`` of it (done under a
        lock) has no data left to flush. Drivers whose writes are durable at once do nothing."""
        return None

    @abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Atomically and durably rename ``src`` to ``dst``, replacing ``dst``."""

    @abstractmethod
    def delete(self, path: str) -> bool:
        """Remove the file or the tree at ``path``; return whether anything was removed."""

    @abstractmethod
    def walk(self, prefix: str) -> Iterator[FileInfo]:
        """Every file under ``prefix``, recursively, in no particular order."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """The names directly under ``prefix`` (files and directories), sorted."""

    def purge_temporary(self, older_than: float) -> int:
        """Remove temporary files a killed writer left, untouched since ``older_than``
        (epoch seconds); how many. Drivers without temporary files have nothing to do."""
        return 0


def blob_key(digest: str) -> str:
    """Where a blob's bytes live: ``blobs/<algorithm>/<first two hex>/<hex>``."""
    algorithm, _, hex_ = digest.partition(":")
    return f"blobs/{algorithm}/{hex_[:2]}/{hex_}"


def upload_key(upload_id: str) -> str:
    """Where an upload session's bytes accumulate until it is committed."""
    return f"uploads/{upload_id}/data"


__all__ = ["BlobWriter", "FileInfo", "StorageDriver", "blob_key", "upload_key"]
