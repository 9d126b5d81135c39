"""The storage-driver contract: where blob bytes and upload data live.

Keys are driver-relative with "/" separators; a driver maps them to files, objects or whatever
it has. The contract is shaped for object stores, so that the filesystem and S3 drivers keep
the same promises and one shared test suite (``tests/registry/test_storage.py``) runs against
both:

- objects are written once and never changed: ``put`` and ``writer`` publish atomically, a
  reader sees nothing until the object is complete;
- a blob object's key is unique to the push that wrote it (``objects/<upload id>``) and is
  recorded in the metadata, so placing a blob never races with GC removing another copy of the
  same digest, and there is no lock in storage at all: who may write an upload is decided by
  a claim in the metadata (see ``upload_sessions``);
- an upload grows through ``upload_writer``, which continues it from a recorded offset and a
  recorded driver ``state`` (an opaque string the caller keeps in the metadata, such as an S3
  multipart upload id and its parts), and is published by ``upload_complete`` without its bytes
  passing through the registry again;
- ``delete`` removes an object, or every object under a prefix, and reports whether anything
  was there.
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
    """An object being written: ``write`` chunks, then the context manager publishes it."""

    def write(self, data: bytes | memoryview, /) -> int: ...

    @property
    def size(self) -> int: ...


class UploadWriter(Protocol):
    """Bytes appended to an upload; ``state`` is what to record once the context exits."""

    def write(self, data: bytes | memoryview, /) -> int: ...

    @property
    def state(self) -> str | None: ...


class StorageDriver(ABC):
    """Byte storage under one root. Every method is blocking; callers run it in a thread."""

    # Where the driver lives, for messages (never with credentials).
    location: str = ""

    @abstractmethod
    def stat(self, path: str) -> FileInfo | None:
        """The object's size and mtime, or None if it does not exist."""

    @abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """Open for reading from ``offset``; raise NotFound if absent."""

    @abstractmethod
    def read(self, path: str) -> bytes:
        """The whole (small) object; raise NotFound if absent."""

    @abstractmethod
    def writer(self, path: str) -> AbstractContextManager[BlobWriter]:
        """Write a new object; publish it atomically on a clean exit, drop it otherwise."""

    def put(self, path: str, data: bytes) -> None:
        with self.writer(path) as w:
            w.write(data)

    @abstractmethod
    def delete(self, path: str) -> bool:
        """Remove the object or every object under ``path/``; whether anything was removed."""

    @abstractmethod
    def walk(self, prefix: str) -> Iterator[FileInfo]:
        """Every object under ``prefix``, recursively, in no particular order."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """The names directly under ``prefix`` (objects and sub-prefixes), sorted."""

    def presign(self, path: str, expires: int) -> str | None:
        """A URL a client may GET the object from for ``expires`` seconds; None if the driver
        has no such thing (the registry then streams the object itself)."""
        return None

    def check(self) -> None:
        """Raise StorageError naming the backend if it cannot be reached (checked at start)."""
        return None

    def purge_temporary(self, older_than: float) -> int:
        """Remove temporary data a killed writer left, untouched since ``older_than`` (epoch
        seconds); how many. Drivers without temporary data have nothing to do."""
        return 0

    # --- uploads ------------------------------------------------------------------------------
    @abstractmethod
    def upload_writer(
        self, upload_id: str, state: str | None, offset: int
    ) -> AbstractContextManager[UploadWriter]:
        """Continue upload ``upload_id`` at ``offset`` from its recorded ``state``.

        Whatever a dead writer left past ``offset`` is ignored. On a clean exit the writer's
        ``state`` is what the caller must record with the new offset; until it does, the old
        state stays valid.
        """

    @abstractmethod
    def upload_complete(self, upload_id: str, state: str | None, size: int) -> str:
        """Publish the upload's ``size`` bytes as one object; its key (``objects/<id>``)."""

    @abstractmethod
    def upload_abort(self, upload_id: str, state: str | None) -> None:
        """Drop everything the upload wrote."""


def blob_key(digest: str) -> str:
    """Where blobs written before object keys were recorded live: ``blobs/<alg>/<xx>/<hex>``."""
    algorithm, _, hex_ = digest.partition(":")
    return f"blobs/{algorithm}/{hex_[:2]}/{hex_}"


def object_key(upload_id: str) -> str:
    """Where the blob an upload publishes lives: unique to that upload."""
    return f"objects/{upload_id}"


def upload_key(upload_id: str) -> str:
    """Where an upload session's scratch data lives until it is committed."""
    return f"uploads/{upload_id}"


__all__ = [
    "BlobWriter",
    "FileInfo",
    "StorageDriver",
    "UploadWriter",
    "blob_key",
    "object_key",
    "upload_key",
]
