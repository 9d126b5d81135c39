"""Upload sessions: chunks streamed to the storage driver, committed as blobs.

A session lives in the metadata (id, repository, offset, running hash, the driver's state) and
its bytes in the storage, so any worker of any replica can carry on a session another started.

One writer at a time: a request first *claims* the session in the metadata (a compare-and-swap
on its offset, which also fails while another request holds a claim younger than ``LEASE``),
writes, then records the new offset and state and releases the claim in one more
compare-and-swap. The storage has no lock; a claim that outlived its lease cannot corrupt
anything either, since its late ``advance`` fails and what it wrote is not in the recorded
state.

Hashing: the session's metadata row carries the running sha256 of its bytes so far
(``running_hash``), saved with the offset in the same compare-and-swap. Whichever worker of
whichever replica takes the next chunk continues that hash, and the one that commits knows the
digest without reading a byte back: committing is metadata and the store's own assembly of the
object. Only a client that names another algorithm than sha256 at the end of a chunked upload
has the object read back once to verify it (distribution does the same).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import anyio.to_thread

from lamina.model.digest import Digest, Hasher
from lamina.registry.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid
from lamina.registry.metadata import MetadataStore, Upload, UploadClaimLost
from lamina.registry.running_hash import ALGORITHM, RunningHash
from lamina.registry.storage import StorageDriver

# Bytes handed to a worker thread at once: large enough that the thread hop is noise, small
# enough that memory stays flat whatever the blob size.
WRITE_BATCH = 1 << 20
# A claim older than this is taken as abandoned (its request died with its replica).
LEASE = 120.0


class Uploads:
    def __init__(self, metadata: MetadataStore, storage: StorageDriver) -> None:
        self.metadata = metadata
        self.storage = storage

    def start(self, repository: str) -> Upload:
        upload_id = str(uuid.uuid4())
        self.metadata.create_upload(upload_id, repository)
        now = time.time()
        return Upload(upload_id, repository, 0, None, now, now)

    def get(self, repository: str, upload_id: str) -> Upload:
        upload = self.metadata.get_upload(upload_id) if _valid_uuid(upload_id) else None
        if upload is None or upload.repository != repository:
            raise BlobUploadUnknown(f"upload unknown: {upload_id}")
        return upload

    def cancel(self, upload: Upload) -> None:
        ended = self.metadata.delete_upload(upload.id)
        self.storage.upload_abort(upload.id, ended.state if ended else upload.state)

    def _claim(self, upload: Upload, writer: str) -> Upload:
        claimed = self.metadata.claim_upload(upload.id, upload.offset, writer, time.time(), LEASE)
        if claimed is not None:
            return claimed
        current = self.metadata.get_upload(upload.id)
        if current is None:
            raise BlobUploadUnknown(f"upload unknown: {upload.id}")
        if current.offset != upload.offset:
            raise RangeInvalid(f"the upload moved on to offset {current.offset}")
        raise RangeInvalid("another request is writing to this upload")

    async def _release(self, upload_id: str, writer: str) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.metadata.release_upload, upload_id, writer)

    async def append(
        self, upload: Upload, chunks: AsyncIterator[bytes], length: int | None = None
    ) -> Upload:
        """Stream ``chunks`` onto the end of ``upload``; the session as it stands after."""
        writer = uuid.uuid4().hex
        current = await anyio.to_thread.run_sync(self._claim, upload, writer)
        try:
            hasher = _running_hash(current)
            written, state = await _stream(self.storage, current, chunks, hasher)
            if length is not None and written != length:
                raise SizeInvalid(f"received {written} bytes, the request said {length}")
        except BaseException:
            await self._release(current.id, writer)
            raise
        offset = current.offset + written
        saved = hasher.save()
        moved = await anyio.to_thread.run_sync(
            self.metadata.advance_upload, current.id, writer, current.offset, offset, saved, state
        )
        if not moved:
            raise BlobUploadUnknown("upload ended meanwhile")
        return Upload(current.id, current.repository, offset, saved, current.created, time.time())

    async def finish(self, upload: Upload, expected: Digest) -> None:
        """Verify the upload against ``expected`` and commit it as a blob of its repository."""
        writer = uuid.uuid4().hex
        current = await anyio.to_thread.run_sync(self._claim, upload, writer)
        try:
            # The running hash is sha256's; another algorithm is checked on the object itself.
            known = _running_hash(current).digest() if expected.algorithm == ALGORITHM else None
            if known is not None and known != expected:
                await anyio.to_thread.run_sync(self.cancel, current)
                raise _mismatch(known, expected)
            await anyio.to_thread.run_sync(self._commit, current, expected, known, writer)
        except BaseException:
            await self._release(current.id, writer)
            raise

    def _commit(self, upload: Upload, digest: Digest, known: str | None, writer: str) -> None:
        key = self.storage.upload_complete(upload.id, upload.state, upload.offset)
        if known is None:
            # A digest of another algorithm than the running hash's: hash the object once.
            actual = _hash_object(self.storage, key, digest.algorithm)
            if actual != digest:
                self.storage.delete(key)
                self.metadata.delete_upload(upload.id)
                raise _mismatch(actual, digest)
        try:
            placed = self.metadata.commit_blob(
                upload.repository, digest, upload.offset, key, upload.id, writer
            )
        except UploadClaimLost:
            self.storage.delete(key)
            raise BlobUploadUnknown("upload ended meanwhile") from None
        except BaseException:
            self.storage.delete(key)
            raise
        if not placed:
            self.storage.delete(key)  # the registry had this digest already

    async def put_blob(
        self, repository: str, expected: Digest, chunks: AsyncIterator[bytes], length: int | None
    ) -> None:
        """A monolithic upload: the whole blob in one request, with no session."""
        now = time.time()
        upload = Upload(str(uuid.uuid4()), repository, 0, None, now, now)
        hasher = Hasher(expected.algorithm)
        try:
            written, state = await _stream(self.storage, upload, chunks, hasher)
            if length is not None and written != length:
                raise SizeInvalid(f"received {written} bytes, the request said {length}")
            if hasher.digest() != expected:
                raise _mismatch(hasher.digest(), expected)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.storage.upload_abort, upload.id, None)
            raise

        def commit() -> None:
            key = self.storage.upload_complete(upload.id, state, written)
            try:
                placed = self.metadata.commit_blob(repository, expected, written, key)
            except BaseException:
                self.storage.delete(key)
                raise
            if not placed:
                self.storage.delete(key)

        await anyio.to_thread.run_sync(commit)

    def count(self) -> int:
        return self.metadata.count_uploads()


def _mismatch(actual: str, expected: Digest) -> DigestInvalid:
    return DigestInvalid(f"uploaded content has digest {actual}, not {expected}")


def _running_hash(upload: Upload) -> RunningHash:
    """The hash of ``upload``'s bytes so far, as its metadata row carries it."""
    if upload.offset == 0:
        return RunningHash()
    if upload.hash_state is None:
        # Begun by a registry that kept no running hash: the client starts over.
        raise BlobUploadUnknown(f"upload {upload.id} has no running hash; start it again")
    try:
        return RunningHash(upload.hash_state)
    except ValueError:
        raise BlobUploadUnknown(f"upload {upload.id} has an unreadable running hash") from None


def _hash_object(storage: StorageDriver, key: str, algorithm: str) -> str:
    hasher = Hasher(algorithm)
    with storage.reader(key) as f:
        while chunk := f.read(WRITE_BATCH):
            hasher.update(chunk)
    return hasher.digest()


async def _stream(
    storage: StorageDriver,
    upload: Upload,
    chunks: AsyncIterator[bytes],
    hasher: Hasher | RunningHash,
) -> tuple[int, str | None]:
    """Append ``chunks`` to ``upload``, hashing them; the number of bytes written and the
    driver's new state."""
    manager = storage.upload_writer(upload.id, upload.state, upload.offset)
    writer = await anyio.to_thread.run_sync(manager.__enter__)
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
    return written, writer.state


def _valid_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


__all__ = ["LEASE", "WRITE_BATCH", "Uploads"]
