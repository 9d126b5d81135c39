"""The registry's operations, apart from HTTP: what handlers call, over metadata and storage.

``Registry`` holds the metadata store, the storage driver and the settings; every method that
can fail for a client raises ``RegistryHTTPError`` with the spec's code. Blocking work (SQL
writes, file I/O, hashing) runs in worker threads; cheap indexed reads run inline.

Upload hashing: ``hashlib`` state cannot be saved portably, so the metadata keeps the digest of
the bytes received so far (final if no more arrive) and this process keeps the live hasher as
a cache, keyed by upload id and offset. A single PATCH (docker, skopeo) or a monolithic PUT
therefore never reads its data back. If the next chunk lands on another worker, or after a
restart, that worker re-hashes the upload from storage once and carries on: the cache only saves
time, never decides anything.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from lamina.errors import Conflict, InvalidDigest, InvalidManifest, NotFound, Unsupported
from lamina.model import mediatype as mt
from lamina.model.digest import Digest, Hasher
from lamina.model.manifest import Index, Manifest, parse_manifest
from lamina.model.reference import NAME_TOTAL_LENGTH_MAX, PATH_RE, TAG_RE
from lamina.registry.config import RegistryConfig
from lamina.registry.errors import RegistryHTTPError
from lamina.registry.metadata import (
    ManifestReferenceError,
    MetadataStore,
    NewManifest,
    SQLiteMetadata,
    StoredManifest,
    Upload,
)
from lamina.registry.storage import (
    BlobWriter,
    FilesystemDriver,
    StorageDriver,
    blob_key,
    upload_key,
)

# Bytes handed to a worker thread at once: large enough that the thread hop is noise, small
# enough that memory stays flat whatever the blob size.
WRITE_BATCH = 1 << 20
_HASHER_CACHE = 512


def validate_name(name: str) -> str:
    if len(name) > NAME_TOTAL_LENGTH_MAX or not PATH_RE.fullmatch(name):
        raise RegistryHTTPError("NAME_INVALID", f"invalid repository name {name!r}")
    return name


def parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except (InvalidDigest, Unsupported) as exc:
        raise RegistryHTTPError("DIGEST_INVALID", str(exc)) from None


def is_tag(reference: str) -> bool:
    return TAG_RE.fullmatch(reference) is not None


def _check_reference(reference: str) -> bool:
    """Whether a manifest reference can name anything: a malformed digest is DIGEST_INVALID,
    while a string that is no tag simply names nothing (404, as distribution's router)."""
    if ":" in reference:
        parse_digest(reference)
        return True
    return is_tag(reference)


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None


class Registry:
    """One registry: its metadata, its blob storage and its settings."""

    def __init__(
        self,
        config: RegistryConfig,
        metadata: MetadataStore | None = None,
        storage: StorageDriver | None = None,
    ) -> None:
        root = Path(config.root)
        root.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.metadata = metadata or SQLiteMetadata(root / "registry.db")
        self.storage = storage or FilesystemDriver(root / "storage")
        self._hashers: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()

    def close(self) -> None:
        self.metadata.close()

    # --- manifests --------------------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> StoredManifest:
        found = None
        if _check_reference(reference):
            found = self.metadata.get_manifest(repository, reference)
        if found is None:
            raise RegistryHTTPError("MANIFEST_UNKNOWN", f"manifest unknown: {reference}")
        return found

    def put_manifest(
        self, repository: str, reference: str, raw: bytes, content_type: str | None
    ) -> PushedManifest:
        try:
            parsed = parse_manifest(raw, content_type)
        except (InvalidManifest, Unsupported) as exc:
            raise RegistryHTTPError("MANIFEST_INVALID", str(exc)) from None
        tag: str | None = None
        if is_tag(reference):
            tag, digest = reference, Digest.of(raw)
        else:
            expected = parse_digest(reference)
            digest = Digest.of(raw, expected.algorithm)
            if digest != expected:
                raise RegistryHTTPError(
                    "DIGEST_INVALID", f"manifest digest {digest} does not match {expected}"
                )
        record = _new_manifest(digest, parsed)
        try:
            self.metadata.put_manifest(repository, record, tag)
        except ManifestReferenceError as exc:
            raise RegistryHTTPError(
                "MANIFEST_BLOB_UNKNOWN",
                f"manifest references unknown content: {', '.join(exc.missing)}",
                detail={"missing": exc.missing},
            ) from None
        return PushedManifest(digest, record.subject)

    def delete_manifest(self, repository: str, reference: str) -> None:
        if not _check_reference(reference):
            raise RegistryHTTPError("MANIFEST_UNKNOWN", f"manifest unknown: {reference}")
        if is_tag(reference):
            if not self.metadata.delete_tag(repository, reference):
                raise RegistryHTTPError("MANIFEST_UNKNOWN", f"tag unknown: {reference}")
        elif not self.metadata.delete_manifest(repository, reference):
            raise RegistryHTTPError("MANIFEST_UNKNOWN", f"manifest unknown: {reference}")

    # --- blobs ------------------------------------------------------------------------------
    def blob_size(self, repository: str, digest: Digest) -> int:
        size = self.metadata.blob_size(repository, digest)
        if size is None:
            raise RegistryHTTPError("BLOB_UNKNOWN", f"blob unknown: {digest}")
        return size

    def blob_path(self, digest: Digest) -> str | None:
        return self.storage.local_path(blob_key(digest))

    def open_blob(self, digest: Digest, offset: int = 0) -> BinaryIO:
        try:
            return self.storage.reader(blob_key(digest), offset)
        except NotFound:
            raise RegistryHTTPError("BLOB_UNKNOWN", f"blob unknown: {digest}") from None

    def delete_blob(self, repository: str, digest: Digest) -> None:
        if not self.metadata.unlink_blob(repository, digest):
            raise RegistryHTTPError("BLOB_UNKNOWN", f"blob unknown: {digest}")

    def mount_blob(self, repository: str, digest: Digest, source: str) -> int | None:
        return self.metadata.mount_blob(repository, digest, source)

    # --- uploads ----------------------------------------------------------------------------
    def start_upload(self, repository: str) -> Upload:
        upload_id = str(uuid.uuid4())
        self.metadata.create_upload(upload_id, repository)
        upload = self.metadata.get_upload(upload_id)
        assert upload is not None
        return upload

    def get_upload(self, repository: str, upload_id: str) -> Upload:
        upload = self.metadata.get_upload(upload_id) if _valid_uuid(upload_id) else None
        if upload is None or upload.repository != repository:
            raise RegistryHTTPError("BLOB_UPLOAD_UNKNOWN", f"upload unknown: {upload_id}")
        return upload

    def cancel_upload(self, upload: Upload) -> None:
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
            await anyio.to_thread.run_sync(manager.__exit__, None, None, None)

    async def append_upload(
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

    async def finish_upload(self, upload: Upload, expected: Digest) -> None:
        """Verify the upload against ``expected`` and commit it as a blob of its repository."""
        async with self._exclusive(upload) as current:
            digest: str | None = current.digest if current.offset else None
            if digest is None or Digest.parse(digest).algorithm != expected.algorithm:
                hasher = await anyio.to_thread.run_sync(self._hasher, current, expected.algorithm)
                digest = hasher.digest()
            self._hashers.pop(current.id, None)
            if digest != expected:
                await anyio.to_thread.run_sync(self.cancel_upload, current)
                raise RegistryHTTPError(
                    "DIGEST_INVALID", f"uploaded content has digest {digest}, not {expected}"
                )
            await anyio.to_thread.run_sync(self._commit, current.repository, expected, current)

    def _commit(self, repository: str, digest: Digest, upload: Upload) -> None:
        source = upload_key(upload.id)
        if upload.offset == 0 and self.storage.stat(source) is None:
            self.storage.put(source, b"")  # an empty blob never got a PATCH
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
            await anyio.to_thread.run_sync(
                lambda: self.metadata.commit_blob(
                    repository,
                    expected,
                    written,
                    lambda: self.storage.move(key, blob_key(expected)),
                )
            )
        finally:
            await anyio.to_thread.run_sync(self.storage.delete, f"uploads/{upload_id}")

    def count_uploads(self) -> int:
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
        await anyio.to_thread.run_sync(manager.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await anyio.to_thread.run_sync(manager.__exit__, None, None, None)
    return written


def _valid_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _new_manifest(digest: str, parsed: Manifest | Index) -> NewManifest:
    if isinstance(parsed, Manifest):
        blobs = [parsed.config.digest]
        for layer in parsed.layers:
            # Foreign layers live at their URLs; the registry need not have them.
            if layer.urls and mt.is_foreign(layer.media_type):
                continue
            blobs.append(layer.digest)
        children: list[str] = []
        artifact_type: str | None = parsed.artifact_type or parsed.config.media_type
    else:
        blobs = []
        children = [m.digest for m in parsed.manifests]
        artifact_type = parsed.artifact_type
    return NewManifest(
        digest=digest,
        media_type=parsed.media_type,
        raw=parsed.raw,
        blobs=tuple(dict.fromkeys(blobs)),
        manifests=tuple(dict.fromkeys(children)),
        subject=parsed.subject.digest if parsed.subject is not None else None,
        artifact_type=artifact_type,
        annotations=json.dumps(dict(parsed.annotations)) if parsed.annotations else None,
    )


__all__ = ["PushedManifest", "Registry", "is_tag", "parse_digest", "validate_name"]
