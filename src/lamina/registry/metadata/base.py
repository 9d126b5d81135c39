"""The metadata interface: everything about the registry except blob bytes.

SQLite implements it now (``sqlite.py``); a PostgreSQL implementation can follow, since nothing
here leaks SQLite. The rules every implementation keeps:

- Reads are cheap, indexed lookups (the manifest GET path is one query).
- Each write method is one transaction, and the conditions that make it safe are checked inside
  that transaction, against the current state, not against what a caller saw earlier: a
  manifest is stored only if the blobs and manifests it names are linked *now*, and GC deletes
  only what is unreferenced *now* and older than its cutoff. That, and nothing kept in process
  memory, is what makes online GC safe against concurrent pushes.
- ``commit_blob`` and ``gc_remove_blob_file`` run their storage callback under the same
  exclusive lock (SQLite's write lock; a PostgreSQL implementation would take an advisory lock
  on the digest), so a blob being placed by a push and the same blob being unlinked by GC never
  interleave.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
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
    # Digest of bytes [0, offset) as hashed while they arrived; None if unknown (then the
    # committing worker re-hashes the data from storage).
    digest: str | None
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class GCSnapshot:
    """What GC marks from. Times are epoch seconds."""

    manifests: list[tuple[str, str, float, str | None]]  # repo, digest, pushed, subject
    tagged: set[tuple[str, str]]  # (repo, digest) of every tagged manifest
    refs: list[tuple[str, str, str, str]]  # repo, parent, child, kind ("blob" | "manifest")
    links: list[tuple[str, str, float]]  # repo, digest, linked
    blobs: list[tuple[str, int, float]]  # digest, size, last used
    uploads: list[tuple[str, float]]  # id, updated


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
    def blob_link(self, repository: str, digest: str) -> tuple[int, float] | None:
        """(size, time linked) of a blob linked in ``repository``, or None."""

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
    def advance_upload(
        self, upload_id: str, expected_offset: int, offset: int, digest: str | None
    ) -> bool:
        """Record that the upload now holds ``offset`` bytes; False if it moved or vanished."""

    @abstractmethod
    def delete_upload(self, upload_id: str) -> bool: ...

    @abstractmethod
    def commit_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        place: Callable[[], None],
        upload_id: str | None = None,
    ) -> bool:
        """Link a verified blob into ``repository``; return whether ``place`` was called.

        If the blob has no record, ``place()`` moves its bytes into storage first, under the
        lock GC takes before unlinking a blob file. ``upload_id``'s session ends in the same
        transaction.
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

    # --- garbage collection ---------------------------------------------------------------
    @abstractmethod
    def gc_snapshot(self) -> GCSnapshot: ...

    @abstractmethod
    def gc_delete_manifest(self, repository: str, digest: str, cutoff: float) -> bool:
        """Delete an untagged manifest pushed before ``cutoff`` that no manifest of its
        repository references and whose subject (if any) is absent; whether it was deleted."""

    @abstractmethod
    def gc_delete_links(self, links: Sequence[tuple[str, str]], cutoff: float) -> int:
        """Delete blob links made before ``cutoff`` that no manifest references; the count."""

    @abstractmethod
    def gc_delete_blob(self, digest: str, cutoff: float) -> bool:
        """Delete the record of a blob no repository links, last used before ``cutoff``."""

    @abstractmethod
    def gc_remove_blob_file(self, digest: str, remove: Callable[[], None]) -> bool:
        """Call ``remove()`` under the blob lock if the blob has no record; whether it did."""

    @abstractmethod
    def gc_delete_upload(self, upload_id: str, cutoff: float) -> bool:
        """End an upload session not touched since ``cutoff``."""

    @abstractmethod
    def close(self) -> None: ...


__all__ = [
    "GCSnapshot",
    "ManifestReferenceError",
    "ManifestSizeError",
    "MetadataStore",
    "NewManifest",
    "Referrer",
    "StoredManifest",
    "Upload",
]
