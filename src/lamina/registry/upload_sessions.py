"""Upload sessions: chunks streamed to the storage's upload area, committed as blobs.

A session lives in the metadata (id, repository, offset, digest so far) and its bytes in the
storage, so any worker can carry on a session another one started. Every writer of a session's
bytes holds the storage lock of that session from its offset check to its metadata update.

Upload hashing: ``hashlib`` state cannot be saved portably, so the metadata keeps the digest of
the bytes received so far (final if no more arrive) and this process keeps the live hasher as
a cache, keyed by upload id and offset. A single PATCH (docker, skopeo) or a monolithic PUT
therefore never reads its data back. If the next chunk lands on another worker, or after a
restart, that worker re-hashes the upload from storage once and carries on: the cache only saves
time, never decides anything.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread

from lamina.errors import Conflict
from lamina.model.digest import Digest, Hasher
from lamina.registry.errors import RegistryHTTPError
from lamina.registry.metadata import MetadataStore, Upload
from lamina.registry.storage import BlobWriter, StorageDriver, blob_key, upload_key

# Bytes handed to a worker thread at once: large enough that the thread hop is noise, small
# enough that memory stays flat whatever the blob size.
WRITE_BATCH = 1 << 20
_HASHER_CACHE = 512


class Uploads:
    def __init__(self, metadata: MetadataStore, storage: StorageDriver) -> None:
        self.metadata = metadata
        self.storage = storage
        self._hashers: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()

    def start(self, repository: str) -> Upload:
        upload_id = str(uuid.uuid4())
        self.metadata.create_upload(upload_id, repository)
        upload = self.metadata.get_upload(upload_id)
        assert upload is not None
        return upload

    def get(self, repository: str, upload_id: str) -> Upload:
        upload = self.metadata.get_upload(upload_id) if _valid_uuid(upload_id) else None
        if upload is None or upload.repository != repository:
            raise RegistryHTTPError("BLOB_UPLOAD_UNKNOWN", f"upload unknown: {upload_id}")
        return upload

    def cancel(self, upload: Upload) -> None:
        self.metadata.delete_upload(upload.id)
        self._hashers.pop(upload.id, None)
        self.storage.delete(f"uploads/{upload.id}")

    def _hasher(self, upload: Upload, algorithm: str = "sha256") -> Hasher:
        """The hasher of ``upload``'s bytes so far: cached, else re-read from storage."""
        cached = self._hashers.pop(upload.id, None)
        if cached is not None and cached[0] == upload.offset and cached[1].algorithm == algorithm:
            return cached[1]
        hasher = Hasher(algorithm)
        if upload.offset:
            with self.storage.reader(upload_key(upload.id)) as f:
                remaining = upload.offset
                while remaining:
                    chunk = f.read(min(WRITE_BATCH, remaining))
                    if not chunk:
                        raise RegistryHTTPError(
                            "BLOB_UPLOAD_INVALID", "upload data is shorter than its offset"
                        )
                    hasher.update(chunk)
                    remaining -= len(chunk)
        return hasher

    def _remember(self, upload_id: str, offset: int, hasher: Hasher) -> None:
        self._hashers[upload_id] = (offset, hasher)
        while len(self._hashers) > _HASHER_CACHE:
            self._hashers.popitem(last=False)

    @asynccontextmanager
    async def _exclusive(self, upload: Upload) -> AsyncIterator[Upload]:
        """Hold the upload's lock; yield the session as it stands once the lock is ours.

        Every writer of an upload's bytes holds this lock from its offset check to its
        metadata update, so the bytes on disk are always the bytes the recorded digest was
        taken over, whichever worker wrote them.
        """
        manager = self.storage.lock(f"uploads/{upload.id}/lock")
        try:
            await anyio.to_thread.run_sync(manager.__enter__)
        except Conflict:
            raise RegistryHTTPError(
                "RANGE_INVALID", "another request is writing to this upload"
            ) from None
        try:
            current = await anyio.to_thread.run_sync(self.metadata.get_upload, upload.id)
            if current is None:
                raise RegistryHTTPError("BLOB_UPLOAD_UNKNOWN", f"upload unknown: {upload.id}")
            yield current
        finally:
            # Shielded: a cancelled request must still let go of the lock.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(manager.__exit__, None, None, None)

    async def append(
        self, upload: Upload, chunks: AsyncIterator[bytes], length: int | None = None
    ) -> Upload:
        """Stream ``chunks`` onto the end of ``upload``; the session as it stands after."""
        async with self._exclusive(upload) as current:
            if current.offset != upload.offset:
                raise RegistryHTTPError(
                    "RANGE_INVALID", f"the upload moved on to offset {current.offset}"
                )
            hasher = await anyio.to_thread.run_sync(self._hasher, current)
            key = upload_key(current.id)
            written = await _stream(self.storage, key, current.offset, chunks, hasher)
            if length is not None and written != length:
                raise RegistryHTTPError(
                    "SIZE_INVALID", f"received {written} bytes, the request said {length}"
                )
            offset = current.offset + written
            digest = hasher.digest()
            moved = await anyio.to_thread.run_sync(
                self.metadata.advance_upload, current.id, current.offset, offset, digest
            )
            if not moved:
                raise RegistryHTTPError("BLOB_UPLOAD_UNKNOWN", "upload ended meanwhile")
            self._remember(current.id, offset, hasher)
            return Upload(
                current.id, current.repository, offset, digest, current.created, current.updated
            )

    async def finish(self, upload: Upload, expected: Digest) -> None:
        """Verify the upload against ``expected`` and commit it as a blob of its repository."""
        async with self._exclusive(upload) as current:
            digest: str | None = current.digest if current.offset else None
            if digest is None or Digest.parse(digest).algorithm != expected.algorithm:
                hasher = await anyio.to_thread.run_sync(self._hasher, current, expected.algorithm)
                digest = hasher.digest()
            self._hashers.pop(current.id, None)
            if digest != expected:
                await anyio.to_thread.run_sync(self.cancel, current)
                raise RegistryHTTPError(
                    "DIGEST_INVALID", f"uploaded content has digest {digest}, not {expected}"
                )
            await anyio.to_thread.run_sync(self._commit, current.repository, expected, current)

    def _commit(self, repository: str, digest: Digest, upload: Upload) -> None:
        source = upload_key(upload.id)
        if upload.offset == 0 and self.storage.stat(source) is None:
            self.storage.put(source, b"")  # an empty blob never got a PATCH
        # Flush before the metadata lock: under it, only a rename remains to be done.
        self.storage.sync(source)
        self.metadata.commit_blob(
            repository,
            digest,
            upload.offset,
            lambda: self.storage.move(source, blob_key(digest)),
            upload.id,
        )
        self.storage.delete(f"uploads/{upload.id}")

    async def put_blob(
        self, repository: str, expected: Digest, chunks: AsyncIterator[bytes], length: int | None
    ) -> None:
        """A monolithic upload: the whole blob in one request."""
        upload_id = str(uuid.uuid4())
        key = upload_key(upload_id)
        hasher = Hasher(expected.algorithm)
        try:
            written = await _stream(self.storage, key, 0, chunks, hasher)
            if length is not None and written != length:
                raise RegistryHTTPError(
                    "SIZE_INVALID", f"received {written} bytes, the request said {length}"
                )
            if hasher.digest() != expected:
                raise RegistryHTTPError(
                    "DIGEST_INVALID",
                    f"uploaded content has digest {hasher.digest()}, not {expected}",
                )
            await anyio.to_thread.run_sync(self.storage.sync, key)
            await anyio.to_thread.run_sync(
                lambda: self.metadata.commit_blob(
                    repository,
                    expected,
                    written,
                    lambda: self.storage.move(key, blob_key(expected)),
                )
            )
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.storage.delete, f"uploads/{upload_id}")

    def count(self) -> int:
        return self.metadata.count_uploads()


async def _stream(
    storage: StorageDriver,
    key: str,
    offset: int,
    chunks: AsyncIterator[bytes],
    hasher: Hasher,
) -> int:
    """Append ``chunks`` to ``key`` from ``offset``, hashing; the number of bytes written."""
    manager = storage.append(key, offset)
    writer: BlobWriter = await anyio.to_thread.run_sync(manager.__enter__)
    written = 0
    pending: list[bytes] = []
    pending_size = 0

    def flush(batch: list[bytes]) -> None:
        for piece in batch:
            hasher.update(piece)
            writer.write(piece)

    try:
        async for chunk in chunks:
            if not chunk:
                continue
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= WRITE_BATCH:
                batch, pending, pending_size = pending, [], 0
                await anyio.to_thread.run_sync(flush, batch)
                written += sum(len(p) for p in batch)
        if pending:
            await anyio.to_thread.run_sync(flush, pending)
            written += pending_size
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(manager.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await anyio.to_thread.run_sync(manager.__exit__, None, None, None)
    return written


def _valid_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


__all__ = ["WRITE_BATCH", "Uploads"]
