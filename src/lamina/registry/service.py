"""The registry's operations, apart from HTTP: what handlers call, over metadata and storage.

``Registry`` holds the metadata store, the storage driver and the settings, and the upload
sessions (``upload_sessions.Uploads``); every method that can fail for a client raises
``RegistryHTTPError`` with the spec's code. Blocking work (SQL writes, file I/O) runs in worker
threads; cheap indexed reads run inline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lamina.errors import InvalidDigest, InvalidManifest, NotFound, Unsupported
from lamina.model import mediatype as mt
from lamina.model.digest import Digest
from lamina.model.manifest import Index, Manifest, parse_manifest
from lamina.model.reference import NAME_TOTAL_LENGTH_MAX, PATH_RE, TAG_RE
from lamina.registry.config import RegistryConfig
from lamina.registry.errors import RegistryHTTPError
from lamina.registry.metadata import (
    ManifestReferenceError,
    ManifestSizeError,
    MetadataStore,
    NewManifest,
    SQLiteMetadata,
    StoredManifest,
)
from lamina.registry.storage import (
    FilesystemDriver,
    StorageDriver,
    blob_key,
)
from lamina.registry.upload_sessions import Uploads


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
        self.uploads = Uploads(self.metadata, self.storage)

    def close(self) -> None:
        self.metadata.close()

    def count_uploads(self) -> int:
        """Upload sessions in progress (for the metrics)."""
        return self.uploads.count()

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
        except ManifestSizeError as exc:
            raise RegistryHTTPError(
                "MANIFEST_INVALID", f"manifest declares wrong sizes: {exc}"
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


__all__ = ["PushedManifest", "Registry", "is_tag", "parse_digest", "validate_name"]
