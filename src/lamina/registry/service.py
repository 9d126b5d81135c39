"""The registry's operations, apart from HTTP: the only thing handlers call.

``Registry`` holds the metadata store, the storage driver and the settings, and the upload
sessions (``upload_sessions.Uploads``). Handlers never touch metadata or storage themselves:
they await the methods here, which run blocking work (SQL writes, every PostgreSQL query,
object I/O) in worker threads, and cheap local reads (SQLite) inline. Every failure a client
should see is raised as a domain error of ``errors`` (``ManifestUnknown``, ``DigestInvalid``,
``Unavailable``...); a backend's fault arrives as ``StorageError``. ``errors.to_wire`` maps both
to the spec's codes and statuses, in one place: nothing here knows HTTP.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

import anyio.to_thread

from lamina.errors import InvalidDigest, InvalidManifest, NotFound, Unsupported
from lamina.model import mediatype as mt
from lamina.model.digest import Digest
from lamina.model.manifest import Index, Manifest, parse_manifest
from lamina.model.platform import Platform
from lamina.model.reference import NAME_TOTAL_LENGTH_MAX, PATH_RE, TAG_RE
from lamina.registry.config import RegistryConfig
from lamina.registry.errors import (
    BlobUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SignatureRequired,
    Unavailable,
)
from lamina.registry.metadata import (
    ManifestReferenceError,
    ManifestSizeError,
    MetadataStore,
    NewManifest,
    Referrer,
    StoredManifest,
    Upload,
)
from lamina.registry.storage import StorageDriver
from lamina.registry.upload_sessions import Uploads

T = TypeVar("T")
_DEFAULT_PLATFORM = Platform("linux", "amd64")


def validate_name(name: str) -> str:
    if len(name) > NAME_TOTAL_LENGTH_MAX or not PATH_RE.fullmatch(name):
        raise NameInvalid(f"invalid repository name {name!r}")
    return name


def parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except (InvalidDigest, Unsupported) as exc:
        raise DigestInvalid(str(exc)) from None


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


@dataclass(frozen=True, slots=True)
class BlobAnswer:
    """What a blob GET serves: a stored blob (size and object key), or a manifest's bytes."""

    size: int
    key: str | None = None
    raw: bytes | None = None


class Registry:
    """One registry: its metadata, its blob storage and its settings."""

    def __init__(
        self,
        config: RegistryConfig,
        metadata: MetadataStore | None = None,
        storage: StorageDriver | None = None,
    ) -> None:
        from lamina.registry.backends import open_metadata, open_storage

        self.config = config
        self.metadata = metadata or open_metadata(config)
        try:
            self.storage = storage or open_storage(config)
        except BaseException:
            self.metadata.close()
            raise
        self.uploads = Uploads(self.metadata, self.storage)
        # Local SQLite reads are cheaper than a thread hop; a database server's are not.
        self._inline_reads = not getattr(self.metadata, "blocking", False)

    def close(self) -> None:
        self.metadata.close()

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if self._inline_reads:
            return fn(*args)
        return await anyio.to_thread.run_sync(fn, *args)

    @staticmethod
    async def _blocking(fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    def _grace_expiring(self, since: float) -> bool:
        """Whether a pull should restart GC's grace period for what it found (half gone)."""
        return not self.config.read_only and time.time() - since > self.config.gc_grace_seconds / 2

    def count_uploads(self) -> int:
        """Upload sessions in progress (for the metrics, which call it in a thread)."""
        return self.uploads.count()

    # --- manifests --------------------------------------------------------------------------
    async def get_manifest(
        self, repository: str, reference: str, accept: list[str] | None = None
    ) -> StoredManifest:
        found = None
        if _check_reference(reference):
            found = await self._read(self.metadata.get_manifest, repository, reference)
        if found is None:
            raise ManifestUnknown(f"manifest unknown: {reference}")
        if accept is not None:
            found = await self._negotiate(repository, reference, found, accept)
        # A client that finds a manifest by digest may push an index naming it next (docker
        # and skopeo check children so): restart its grace period so online GC leaves it.
        if (
            not is_tag(reference)
            and self._grace_expiring(found.pushed)
            and not await self._blocking(self.metadata.touch_manifest, repository, found.digest)
        ):
            raise ManifestUnknown(f"manifest unknown: {reference}")
        return found

    async def require_signed(
        self, repository: str, reference: str, stored: StoredManifest
    ) -> None:
        """The ``[trust]`` policy (``lamina.trust.serving``): SignatureRequired unless
        ``stored`` may be served, that is its repository is not under the policy, or a
        signature by a trusted key covers it."""
        if not self.config.trust.repositories:
            return
        from lamina.trust.serving import refusal

        why = await self._blocking(refusal, self, repository, reference, stored)
        if why is not None:
            raise SignatureRequired(why)

    async def _negotiate(
        self, name: str, reference: str, stored: StoredManifest, accept: list[str]
    ) -> StoredManifest:
        """Answer within the client's ``Accept``, as distribution does.

        No Accept (or ``*/*``, or none of the manifest types) gets the manifest as stored. A
        client that names manifest types but not the stored one gets, for an index fetched by
        tag, its linux/amd64 image (what old docker clients need), else MANIFEST_UNKNOWN.
        """
        accepted = {mt.base(part) for header in accept for part in header.split(",")}
        if (
            not accepted
            or stored.media_type in accepted
            or "*/*" in accepted
            or accepted.isdisjoint(mt.MANIFEST_ACCEPT)
        ):
            return stored
        if mt.is_index(stored.media_type) and is_tag(reference):
            index = Index.parse(stored.raw, stored.media_type)
            for descriptor in index.for_platform(_DEFAULT_PLATFORM):
                if descriptor.media_type in accepted:
                    child = await self._read(self.metadata.get_manifest, name, descriptor.digest)
                    if child is not None:
                        return child
        raise ManifestUnknown(
            f"manifest is {stored.media_type}, which the Accept header does not allow",
        )

    async def put_manifest(
        self, repository: str, reference: str, raw: bytes, content_type: str | None
    ) -> PushedManifest:
        return await self._blocking(self._put_manifest, repository, reference, raw, content_type)

    def _put_manifest(
        self, repository: str, reference: str, raw: bytes, content_type: str | None
    ) -> PushedManifest:
        try:
            parsed = parse_manifest(raw, content_type)
        except (InvalidManifest, Unsupported) as exc:
            raise ManifestInvalid(str(exc)) from None
        tag: str | None = None
        if is_tag(reference):
            tag, digest = reference, Digest.of(raw)
        else:
            expected = parse_digest(reference)
            digest = Digest.of(raw, expected.algorithm)
            if digest != expected:
                raise DigestInvalid(f"manifest digest {digest} does not match {expected}")
        record = _new_manifest(digest, parsed)
        try:
            self.metadata.put_manifest(repository, record, tag)
        except ManifestReferenceError as exc:
            raise ManifestBlobUnknown(
                f"manifest references unknown content: {', '.join(exc.missing)}",
                detail={"missing": exc.missing},
            ) from None
        except ManifestSizeError as exc:
            raise ManifestInvalid(f"manifest declares wrong sizes: {exc}") from None
        return PushedManifest(digest, record.subject)

    async def delete_manifest(self, repository: str, reference: str) -> None:
        if not _check_reference(reference):
            raise ManifestUnknown(f"manifest unknown: {reference}")
        if is_tag(reference):
            if not await self._blocking(self.metadata.delete_tag, repository, reference):
                raise ManifestUnknown(f"tag unknown: {reference}")
        elif not await self._blocking(self.metadata.delete_manifest, repository, reference):
            raise ManifestUnknown(f"manifest unknown: {reference}")

    # --- listings ---------------------------------------------------------------------------
    async def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        if not await self._read(self.metadata.repository_exists, repository):
            raise NameUnknown(f"repository name not known to registry: {repository}")
        return await self._read(self.metadata.list_tags, repository, last, limit)

    async def list_repositories(self, last: str | None, limit: int | None) -> list[str]:
        return await self._blocking(self.metadata.list_repositories, last, limit)

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[Referrer]:
        return await self._read(self.metadata.referrers, repository, subject, artifact_type)

    # --- blobs ------------------------------------------------------------------------------
    async def find_blob(self, repository: str, digest: Digest) -> BlobAnswer:
        """What a GET of the blob serves; BLOB_UNKNOWN if the repository has none."""
        link = await self._read(self.metadata.blob_link, repository, digest)
        # A client that finds a blob here may skip uploading it and push a manifest naming it
        # next: restart the link's grace period so online GC leaves it alone meanwhile.
        if (
            link is not None
            and self._grace_expiring(link[1])
            and not await self._blocking(self.metadata.touch_link, repository, digest)
        ):
            link = None
        if link is not None:
            return BlobAnswer(size=link[0], key=link[2])
        # A manifest is content too: distribution serves it at the blob endpoint.
        stored = await self._read(self.metadata.get_manifest, repository, digest)
        if stored is None:
            raise BlobUnknown(f"blob unknown: {digest}")
        return BlobAnswer(size=len(stored.raw), raw=stored.raw)

    async def blob_size(self, repository: str, digest: Digest) -> int | None:
        return await self._read(self.metadata.blob_size, repository, digest)

    async def open_blob(self, key: str, offset: int = 0) -> BinaryIO:
        try:
            return await self._blocking(self.storage.reader, key, offset)
        except NotFound:
            # The record says it is there: a storage that lost it is a fault, not a 404.
            raise Unavailable("blob data is missing from storage") from None

    def blob_url(self, key: str) -> str | None:
        """A presigned URL to redirect a blob GET to, when configured."""
        if not self.config.storage.redirect:
            return None
        return self.storage.presign(key, self.config.storage.redirect_expiry)

    async def delete_blob(self, repository: str, digest: Digest) -> None:
        if not await self._blocking(self.metadata.unlink_blob, repository, digest):
            raise BlobUnknown(f"blob unknown: {digest}")

    async def mount_blob(self, repository: str, digest: Digest, source: str) -> int | None:
        return await self._blocking(self.metadata.mount_blob, repository, digest, source)

    # --- uploads ----------------------------------------------------------------------------
    async def start_upload(self, repository: str) -> Upload:
        return await self._blocking(self.uploads.start, repository)

    async def get_upload(self, repository: str, upload_id: str) -> Upload:
        return await self._read(self.uploads.get, repository, upload_id)

    async def cancel_upload(self, upload: Upload) -> None:
        await self._blocking(self.uploads.cancel, upload)

    async def append_upload(
        self, upload: Upload, chunks: AsyncIterator[bytes], length: int | None
    ) -> Upload:
        return await self.uploads.append(upload, chunks, length)

    async def finish_upload(self, upload: Upload, digest: Digest) -> None:
        await self.uploads.finish(upload, digest)

    async def put_blob(
        self, repository: str, digest: Digest, chunks: AsyncIterator[bytes], length: int | None
    ) -> None:
        await self.uploads.put_blob(repository, digest, chunks, length)


def _new_manifest(digest: str, parsed: Manifest | Index) -> NewManifest:
    sizes: dict[tuple[str, int], None] = {}
    if isinstance(parsed, Manifest):
        blobs = []
        for descriptor in (parsed.config, *parsed.layers):
            # Foreign layers live at their URLs; the registry need not have them.
            if descriptor.urls and mt.is_foreign(descriptor.media_type):
                continue
            blobs.append(descriptor.digest)
            sizes[(descriptor.digest, descriptor.size)] = None
        children: list[str] = []
        artifact_type: str | None = parsed.artifact_type or parsed.config.media_type
    else:
        blobs = []
        children = []
        for descriptor in parsed.manifests:
            children.append(descriptor.digest)
            sizes[(descriptor.digest, descriptor.size)] = None
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
        sizes=tuple(sizes),
    )


__all__ = ["BlobAnswer", "PushedManifest", "Registry", "is_tag", "parse_digest", "validate_name"]
