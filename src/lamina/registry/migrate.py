"""Copy a registry from one pair of backends to another: ``lamina registry migrate``.

For example from the embedded default (SQLite and a directory) to PostgreSQL and S3, so that a
team can move to a cluster of replicas. The copy:

- reads the source only: nothing there is written or deleted;
- verifies every blob and manifest against its digest as the bytes stream through, and stops
  with a one-line error naming the first that does not match (nothing of it is recorded);
- is resumable: blobs, manifests and tags the target already has are skipped, so running it
  again after an interruption (or a fix of the source) carries on where it stopped;
- copies blobs before the manifests that need them, and manifests in the order they were first
  pushed, so that an index's children are there before the index.

Upload sessions in progress are not copied: a client whose push was interrupted pushes again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.errors import IntegrityError
from lamina.model.digest import Digest, Hasher
from lamina.registry.backends import open_metadata, open_storage
from lamina.registry.config import RegistryConfig
from lamina.registry.metadata import ManifestReferenceError, NewManifest, SQLMetadata
from lamina.registry.storage import StorageDriver

BATCH = 500
_CHUNK = 4 << 20


@dataclass
class MigrateReport:
    blobs_copied: int = 0
    blobs_linked: int = 0  # present in the target already (another repository, an earlier run)
    blobs_skipped: int = 0
    bytes_copied: int = 0
    manifests_copied: int = 0
    manifests_skipped: int = 0
    # Manifests the source keeps although content they name was deleted (DELETE of a blob
    # is allowed while a manifest names it): the target refuses them, as it would a push.
    manifests_broken: list[str] = field(default_factory=list)
    tags: int = 0

    def summary(self) -> str:
        return (
            f"copied {self.blobs_copied} blobs ({self.bytes_copied} bytes), linked "
            f"{self.blobs_linked}, skipped {self.blobs_skipped} already there; copied "
            f"{self.manifests_copied} manifests, skipped {self.manifests_skipped}"
            + (
                f", left {len(self.manifests_broken)} naming missing content"
                if self.manifests_broken
                else ""
            )
            + f"; set {self.tags} tags"
        )


def _copy_blob(
    source: StorageDriver, key: str, target: StorageDriver, digest: str, size: int
) -> str:
    """Stream one blob into the target as a new object, hashing; its key there."""
    upload_id = str(uuid.uuid4())
    hasher = Hasher(Digest.parse(digest).algorithm)
    try:
        with source.reader(key) as src, target.upload_writer(upload_id, None, 0) as w:
            while chunk := src.read(_CHUNK):
                hasher.update(chunk)
                w.write(chunk)
        state = w.state
        if hasher.size != size or hasher.digest() != digest:
            raise IntegrityError(
                f"blob {digest} in the source is corrupt: its {hasher.size} bytes have digest "
                f"{hasher.digest()} (recorded size {size})"
            )
    except BaseException:
        target.upload_abort(upload_id, None)
        raise
    return target.upload_complete(upload_id, state, size)


def migrate(
    source_config: RegistryConfig,
    target_config: RegistryConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> MigrateReport:
    report = MigrateReport()
    source = open_metadata(source_config)
    try:
        target = open_metadata(target_config)
        try:
            _migrate(
                source,
                open_storage(source_config),
                target,
                open_storage(target_config),
                report,
                progress or (lambda _line: None),
            )
        finally:
            target.close()
    finally:
        source.close()
    return report


def _migrate(
    source: SQLMetadata,
    source_storage: StorageDriver,
    target: SQLMetadata,
    target_storage: StorageDriver,
    report: MigrateReport,
    progress: Callable[[str], None],
) -> None:
    # --- blobs, repository by repository --------------------------------------------------
    after: tuple[str, str] | None = None
    while links := source.all_blob_links(after, BATCH):
        after = links[-1]
        for repo, digest in links:
            if target.blob_link(repo, digest) is not None:
                report.blobs_skipped += 1
                continue
            record = source.blob_record(digest)
            if record is None:
                continue  # unlinked meanwhile
            there = target.blob_record(digest)
            if there is not None:
                target.commit_blob(repo, digest, there.size, there.key)
                report.blobs_linked += 1
                continue
            key = _copy_blob(source_storage, record.key, target_storage, digest, record.size)
            if not target.commit_blob(repo, digest, record.size, key):
                target_storage.delete(key)  # someone recorded it meanwhile
            report.blobs_copied += 1
            report.bytes_copied += record.size
        progress(f"blobs: {report.blobs_copied} copied, {report.blobs_skipped} already there")

    # --- manifests, oldest first ------------------------------------------------------------
    last_id = 0
    while rows := source.all_manifests(last_id, BATCH):
        last_id = rows[-1][0]
        for _id, repo, digest, media_type, raw, subject, artifact_type, notes in rows:
            if target.get_manifest(repo, digest) is not None:
                report.manifests_skipped += 1
                continue
            if Digest.of(raw, Digest.parse(digest).algorithm) != digest:
                raise IntegrityError(f"manifest {repo}@{digest} in the source is corrupt")
            refs = source.manifest_refs(repo, digest)
            try:
                target.put_manifest(
                    repo,
                    NewManifest(
                        digest=digest,
                        media_type=media_type,
                        raw=raw,
                        blobs=tuple(child for kind, child in refs if kind == "blob"),
                        manifests=tuple(child for kind, child in refs if kind == "manifest"),
                        subject=subject,
                        artifact_type=artifact_type,
                        annotations=notes,
                    ),
                    None,
                )
            except ManifestReferenceError:
                report.manifests_broken.append(f"{repo}@{digest}")
                continue
            report.manifests_copied += 1
        progress(f"manifests: {report.manifests_copied} copied")

    # --- tags -------------------------------------------------------------------------------
    tag_after: tuple[str, str] | None = None
    while tags := source.all_tags(tag_after, BATCH):
        tag_after = (tags[-1][0], tags[-1][1])
        for repo, name, digest in tags:
            if target.set_tag(repo, name, digest):
                report.tags += 1


__all__ = ["MigrateReport", "migrate"]
