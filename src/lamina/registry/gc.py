"""Online garbage collection: remove manifests and blobs nothing references, while serving.

Mark: from a consistent snapshot of the metadata, the live manifests are the tagged ones (and
every manifest unless ``delete_untagged``), those pushed within the grace period, the children
of live indexes and the referrers of live subjects, transitively. The live blobs of a
repository are those its live manifests name, and those linked within the grace period.

Sweep: each deletion is a metadata transaction that re-checks, against the state of that
moment, the condition that makes it safe (untagged, unreferenced, older than the cutoff). So a
manifest or link created after the snapshot, or a blob linked, mounted or uploaded moments ago,
is never removed, and an upload session still receiving bytes is never ended. Metadata is
deleted first and files after; a blob file is unlinked under the same lock a push takes to
place it, and only if no record of the blob has come back meanwhile.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

from lamina.errors import InvalidDigest
from lamina.model.digest import Digest
from lamina.registry.config import RegistryConfig
from lamina.registry.metadata import MetadataStore
from lamina.registry.storage import StorageDriver, blob_key, upload_key


@dataclass
class GCReport:
    dry_run: bool
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)
    links: int = 0
    blobs: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    uploads: int = 0
    orphan_files: int = 0

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} {len(self.manifests)} manifests, {self.links} blob links, "
            f"{len(self.blobs)} blobs ({self.bytes_freed} bytes), {self.uploads} upload "
            f"sessions, {self.orphan_files} orphan files"
        )


def collect_garbage(
    metadata: MetadataStore,
    storage: StorageDriver,
    *,
    grace_seconds: float,
    delete_untagged: bool = False,
    dry_run: bool = False,
    now: float | None = None,
) -> GCReport:
    cutoff = (time.time() if now is None else now) - grace_seconds
    report = GCReport(dry_run)
    # Signatures whose image is gone first: their blobs are then swept with the rest.
    from lamina.trust.registry_gc import remove_orphan_signatures

    report.manifests += remove_orphan_signatures(metadata, cutoff, dry_run=dry_run).removed
    snap = metadata.gc_snapshot()

    # --- mark -------------------------------------------------------------------------------
    present = {(repo, digest) for repo, digest, _pushed, _subject in snap.manifests}
    children: dict[tuple[str, str], list[str]] = defaultdict(list)
    blob_refs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for repo, parent, child, kind in snap.refs:
        (children if kind == "manifest" else blob_refs)[(repo, parent)].append(child)
    referrers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for repo, digest, _pushed, subject in snap.manifests:
        if subject is not None:
            referrers[(repo, subject)].append(digest)
    live: set[tuple[str, str]] = set()
    stack = [
        (repo, digest)
        for repo, digest, pushed, subject in snap.manifests
        if (not delete_untagged or (repo, digest) in snap.tagged or pushed >= cutoff)
        # A referrer (a signature, an attestation) of a manifest that is gone is garbage.
        and (subject is None or (repo, subject) in present or pushed >= cutoff)
    ]
    while stack:
        key = stack.pop()
        if key in live or key not in present:
            continue
        live.add(key)
        repo, digest = key
        stack.extend((repo, child) for child in children.get(key, ()))
        stack.extend((repo, referrer) for referrer in referrers.get(key, ()))

    # --- manifests --------------------------------------------------------------------------
    doomed = sorted(present - live, key=lambda k: _depth(k, children))
    if dry_run:
        report.manifests = doomed
    else:
        # Parents before children, subjects before referrers; a pass that deletes nothing ends
        # it (whatever is left was referenced again meanwhile).
        pending = doomed
        while pending:
            left = [k for k in pending if not metadata.gc_delete_manifest(k[0], k[1], cutoff)]
            kept = set(left)
            report.manifests += [k for k in pending if k not in kept]
            if len(left) == len(pending):
                break
            pending = left

    # --- blob links -------------------------------------------------------------------------
    wanted = {(repo, blob) for key in live for repo in (key[0],) for blob in blob_refs.get(key, ())}
    stale_links = [
        (repo, digest)
        for repo, digest, linked in snap.links
        if linked < cutoff and (repo, digest) not in wanted
    ]
    report.links = len(stale_links) if dry_run else metadata.gc_delete_links(stale_links, cutoff)

    # --- blobs ------------------------------------------------------------------------------
    stale = set(stale_links)
    still_linked = {digest for repo, digest, _linked in snap.links if (repo, digest) not in stale}
    known = set()
    for digest, size, last_used in snap.blobs:
        known.add(digest)
        if digest in still_linked or last_used >= cutoff:
            continue
        if dry_run:
            report.blobs.append(digest)
            report.bytes_freed += size
        elif metadata.gc_delete_blob(digest, cutoff):
            metadata.gc_remove_blob_file(digest, partial(_remove, storage, digest))
            report.blobs.append(digest)
            report.bytes_freed += size

    # Files with no record (a push killed between placing a blob and committing it).
    for info in storage.walk("blobs"):
        orphan = _digest_of(info.path)
        if orphan is None or orphan in known or info.mtime >= cutoff:
            continue
        if dry_run or metadata.gc_remove_blob_file(orphan, partial(_remove, storage, orphan)):
            report.orphan_files += 1

    if not dry_run:
        report.orphan_files += storage.purge_temporary(cutoff)

    # --- upload sessions ----------------------------------------------------------------------
    sessions = {upload_id for upload_id, _updated in snap.uploads}
    for upload_id, updated in snap.uploads:
        data = storage.stat(upload_key(upload_id))
        if updated >= cutoff or (data is not None and data.mtime >= cutoff):
            continue  # still receiving bytes, in this request or the last one
        if dry_run or metadata.gc_delete_upload(upload_id, cutoff):
            if not dry_run:
                storage.delete(f"uploads/{upload_id}")
            report.uploads += 1
    for name in storage.list("uploads"):
        if name in sessions:
            continue
        # Monolithic uploads have no session; only their age tells them from debris.
        ages = [storage.stat(upload_key(name)), storage.stat(f"uploads/{name}")]
        if any(info is not None and info.mtime >= cutoff for info in ages):
            continue
        if not dry_run and metadata.get_upload(name) is None:
            storage.delete(f"uploads/{name}")
        report.orphan_files += 1
    return report


def _depth(key: tuple[str, str], children: dict[tuple[str, str], list[str]]) -> int:
    """Indexes first: a manifest with children sorts before one without."""
    return 0 if children.get(key) else 1


def _remove(storage: StorageDriver, digest: str) -> None:
    storage.delete(blob_key(digest))


def _digest_of(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "blobs":
        return None
    try:
        return Digest.parse(f"{parts[1]}:{parts[3]}")
    except InvalidDigest:
        return None


def run_gc(
    config: RegistryConfig, *, delete_untagged: bool = False, dry_run: bool = False
) -> GCReport:
    """Collect the registry of ``config`` with its configured grace period."""
    from lamina.registry.service import Registry

    registry = Registry(config)
    try:
        return collect_garbage(
            registry.metadata,
            registry.storage,
            grace_seconds=config.gc_grace_seconds,
            delete_untagged=delete_untagged,
            dry_run=dry_run,
        )
    finally:
        registry.close()


__all__ = ["GCReport", "collect_garbage", "run_gc"]
