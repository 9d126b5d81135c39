"""The metadata interface: everything about the registry except blob bytes.

``sql.SQLMetadata`` implements it in SQL that SQLite (``sqlite_db``, the embedded default) and
PostgreSQL (``postgres_db``, shared by replicas) both run. The rules every implementation keeps:

- Reads are cheap, indexed lookups (the manifest GET path is one query).
- Each write method is one transaction, and the conditions that make it safe are checked inside
  that transaction, against the current state, not against what a caller saw earlier: a
  manifest is stored only if the blobs and manifests it names are linked *now*, and GC deletes
  only what is unreferenced *now* and older than its cutoff. That, and nothing kept in process
  memory, is what makes online GC safe against concurrent pushes.
- A blob's bytes live at a storage key unique to the push that wrote them, recorded with the
  blob. ``commit_blob`` records it (or, if the digest is already known, tells the caller to
  drop its redundant copy), and GC deletes an object only after deleting its record, so a push
  and GC never touch the same object and no storage lock is needed.
- An upload is written by one request at a time: ``claim_upload`` is a compare-and-swap on
  its offset and writer, and ``advance_upload`` moves it on only for the claimant.
- GC reads candidates in bounded batches (keyset pages), never the whole database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    raw: bytes
    pushed: float = 0.0  # when last pushed (or touched): GC's grace period runs from here


@dataclass(frozen=True, slots=True)
class NewManifest:
    """A validated manifest to store, with what it references."""

    digest: str
    media_type: str
    raw: bytes
    blobs: tuple[str, ...]  # config and layers: must be linked in the repository
    manifests: tuple[str, ...]  # an index's children: must exist in the repository
    subject: str | None = None
    artifact_type: str | None = None  # for the referrers API (artifactType, else config type)
    annotations: str | None = None  # JSON text of the manifest's annotations, for referrers
    # (digest, size) as the descriptors declare them: must match what the repository holds.
    sizes: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: str | None  # JSON text


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository: str
    offset: int
    # The running sha256 of bytes [0, offset), saved by ``running_hash.RunningHash``: whichever
    # replica takes the next chunk or the commit carries on from it. None for an empty upload.
    hash_state: str | None
    created: float
    updated: float
    writer: str | None = None  # the claim of the request writing it now
    claimed: float | None = None
    state: str | None = None  # the storage driver's record of the data (S3: parts)


@dataclass(frozen=True, slots=True)
class BlobRecord:
    digest: str
    size: int
    key: str  # where the bytes live in storage


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """What decides whether GC may delete a manifest, and what deleting it would free."""

    pushed: float
    tagged: bool
    parents: tuple[str, ...]  # manifests of the repository that reference it
    subject: str | None
    subject_present: bool
    children: tuple[str, ...]  # manifests it references
    referrers: tuple[str, ...]  # manifests whose subject it is
    blobs: tuple[str, ...]  # blobs it references


class UploadClaimLost(Exception):
    """The upload moved on, ended, or is claimed by another request."""


class ManifestReferenceError(Exception):
    """A manifest names blobs or manifests its repository does not have."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = list(missing)


class ManifestSizeError(Exception):
    """A manifest declares sizes that differ from those of the content it names."""

    def __init__(self, mismatched: Sequence[tuple[str, int, int]]) -> None:
        super().__init__(
            ", ".join(f"{d}: declared {want}, stored {have}" for d, want, have in mismatched)
        )
        self.mismatched = list(mismatched)


class MetadataStore(ABC):
    # --- reads ----------------------------------------------------------------------------
    @abstractmethod
    def get_manifest(self, repository: str, reference: str) -> StoredManifest | None:
        """The manifest a tag or a digest (``algo:hex``) names in ``repository``."""

    @abstractmethod
    def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of a blob linked in ``repository``, or None."""

    @abstractmethod
    def blob_link(self, repository: str, digest: str) -> tuple[int, float, str] | None:
        """(size, time linked, storage key) of a blob linked in ``repository``, or None."""

    @abstractmethod
    def blob_record(self, digest: str) -> BlobRecord | None:
        """The blob's record, whichever repositories link it."""

    @abstractmethod
    def touch_link(self, repository: str, digest: str) -> bool:
        """Restart GC's grace period for a link; False if the link is gone."""

    @abstractmethod
    def touch_manifest(self, repository: str, digest: str) -> bool:
        """Restart GC's grace period for a manifest; False if it is gone."""

    @abstractmethod
    def repository_exists(self, repository: str) -> bool: ...

    @abstractmethod
    def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        """Tags after ``last`` in lexical order, at most ``limit``."""

    @abstractmethod
    def list_repositories(self, last: str | None, limit: int | None) -> list[str]: ...

    @abstractmethod
    def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[Referrer]: ...

    @abstractmethod
    def get_upload(self, upload_id: str) -> Upload | None: ...

    @abstractmethod
    def count_uploads(self) -> int:
        """Upload sessions in progress (for the metrics)."""

    # --- writes ---------------------------------------------------------------------------
    @abstractmethod
    def create_upload(self, upload_id: str, repository: str) -> None: ...

    @abstractmethod
    def claim_upload(
        self, upload_id: str, offset: int, writer: str, now: float, lease: float
    ) -> Upload | None:
        """Claim the upload for ``writer`` if it stands at ``offset`` and nobody holds it (or
        the last claim is older than ``lease`` seconds); the session as claimed, or None."""

    @abstractmethod
    def release_upload(self, upload_id: str, writer: str) -> None:
        """Give up ``writer``'s claim (after a failed request)."""

    @abstractmethod
    def advance_upload(
        self,
        upload_id: str,
        writer: str,
        expected_offset: int,
        offset: int,
        hash_state: str | None,
        state: str | None,
    ) -> bool:
        """Record, for the claimant, that the upload now holds ``offset`` bytes described by
        ``state`` (the driver's) and ``hash_state`` (their running hash), and release the claim; False if the claim was lost."""

    @abstractmethod
    def delete_upload(self, upload_id: str) -> Upload | None:
        """End a session; the session as it was, or None."""

    @abstractmethod
    def commit_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        key: str,
        upload_id: str | None = None,
        writer: str | None = None,
    ) -> bool:
        """Link a verified blob, whose bytes are at ``key``, into ``repository``.

        Returns whether ``key`` became the blob's object; False if the digest was known
        already, and the caller then deletes its redundant copy. ``upload_id``'s session,
        claimed by ``writer``, ends in the same transaction (UploadClaimLost if it is not
        so claimed any more).
        """

    @abstractmethod
    def mount_blob(self, repository: str, digest: str, source: str) -> int | None:
        """Link a blob that ``source`` has into ``repository``; its size, or None."""

    @abstractmethod
    def unlink_blob(self, repository: str, digest: str) -> bool: ...

    @abstractmethod
    def put_manifest(self, repository: str, manifest: NewManifest, tag: str | None) -> None:
        """Store a manifest (and point ``tag`` at it); ManifestReferenceError if it names
        blobs not linked, or manifests not present, in ``repository``; ManifestSizeError if
        its declared sizes differ from theirs."""

    @abstractmethod
    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest, its references and every tag pointing at it."""

    @abstractmethod
    def delete_tag(self, repository: str, tag: str) -> bool: ...

    # --- garbage collection (bounded batches; ``after`` is the last key of the previous one)
    @abstractmethod
    def gc_manifest_candidates(
        self, cutoff: float, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        """(repo, digest) of manifests ``gc_delete_manifest`` would delete now."""

    @abstractmethod
    def gc_delete_manifest(self, repository: str, digest: str, cutoff: float) -> bool:
        """Delete an untagged manifest pushed before ``cutoff`` that no manifest of its
        repository references and whose subject (if any) is absent; whether it was deleted."""

    @abstractmethod
    def gc_link_candidates(
        self, cutoff: float, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        """(repo, digest) of links made before ``cutoff`` that no manifest references."""

    @abstractmethod
    def gc_delete_links(self, links: Sequence[tuple[str, str]], cutoff: float) -> int:
        """Delete blob links made before ``cutoff`` that no manifest references; the count."""

    @abstractmethod
    def gc_blob_candidates(self, cutoff: float, after: str | None, limit: int) -> list[BlobRecord]:
        """Blobs no repository links, last used before ``cutoff``."""

    @abstractmethod
    def gc_delete_blob(self, digest: str, cutoff: float) -> BlobRecord | None:
        """Delete the record of a blob no repository links, last used before ``cutoff``; the
        record deleted (its object is the caller's to remove), or None."""

    @abstractmethod
    def gc_upload_candidates(self, cutoff: float, after: str | None, limit: int) -> list[str]:
        """Ids of upload sessions not touched since ``cutoff``."""

    @abstractmethod
    def gc_delete_upload(self, upload_id: str, cutoff: float) -> Upload | None:
        """End an upload session not touched since ``cutoff``; the session, or None."""

    # Reads for a dry run, which works out what the passes above would remove without
    # removing anything (so without the state each deletion leaves for the next).
    @abstractmethod
    def gc_manifest_facts(self, repository: str, digest: str) -> ManifestFacts | None: ...

    @abstractmethod
    def gc_link_facts(self, repository: str, digest: str) -> tuple[float, tuple[str, ...]] | None:
        """When the link was made, and the manifests of the repository that reference it."""

    @abstractmethod
    def gc_blob_facts(self, digest: str) -> tuple[BlobRecord, float, tuple[str, ...]] | None:
        """The blob's record, when it was last used, and the repositories that link it."""

    @abstractmethod
    def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` are recorded as some blob's object."""

    @abstractmethod
    def upload_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are upload sessions in progress."""

    @abstractmethod
    def close(self) -> None: ...


__all__ = [
    "BlobRecord",
    "ManifestFacts",
    "ManifestReferenceError",
    "ManifestSizeError",
    "MetadataStore",
    "NewManifest",
    "Referrer",
    "StoredManifest",
    "Upload",
    "UploadClaimLost",
]
