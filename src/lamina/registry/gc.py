"""Online garbage collection: remove manifests and blobs nothing references, while serving.

It works in bounded batches, in the style of GitLab's online GC: it never loads the registry
into memory, so it runs the same against a SQLite file or a PostgreSQL database shared by
replicas that all take pushes meanwhile.

1. Manifests (only with ``delete_untagged``): untagged manifests pushed before the cutoff that
   no manifest of their repository references and whose subject is absent, page by page;
   passes repeat while they delete something, since deleting an index (or a subject) frees
   its children (or referrers) for the next pass. Without ``delete_untagged`` every manifest
   is live.
2. Blob links older than the cutoff that no manifest references.
3. Blob records no repository links, last used before the cutoff: the record first, then the
   object it names. Keys are unique to the push that wrote them, so no push can be placing the
   same object.
4. Upload sessions untouched since the cutoff, and storage debris: objects no record names and
   upload data no session owns, older than the cutoff.

Each deletion is a metadata transaction that re-checks, against the state of that moment, the
condition that makes it safe (untagged, unreferenced, older than the cutoff), so whatever a
push did since the batch was read is never removed.

A dry run removes nothing, so no pass sees the state the one before it would leave: it works
out the same answer from the references themselves (``_rehearse``). It follows what each
manifest that would go references, and reports the manifests, links and blobs a real run would
remove now; it keeps in memory what it reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from lamina.registry.config import RegistryConfig
from lamina.registry.metadata import ManifestFacts, MetadataStore
from lamina.registry.storage import FileInfo, StorageDriver


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


BATCH = 500


def collect_garbage(
    metadata: MetadataStore,
    storage: StorageDriver,
    *,
    grace_seconds: float,
    delete_untagged: bool = False,
    dry_run: bool = False,
    now: float | None = None,
    batch: int = BATCH,
) -> GCReport:
    cutoff = (time.time() if now is None else now) - grace_seconds
    report = GCReport(dry_run)
    # Signatures whose image is gone first: their blobs are then swept with the rest.
    from lamina.trust.registry_gc import remove_orphan_signatures

    orphans = remove_orphan_signatures(metadata, cutoff, dry_run=dry_run)
    report.manifests += orphans.removed
    if dry_run:
        _rehearse(metadata, cutoff, delete_untagged, batch, report, orphans.digests)
    else:
        _collect(metadata, storage, cutoff, delete_untagged, batch, report)

    # --- upload sessions ----------------------------------------------------------------------
    upload_after: str | None = None
    while ids := metadata.gc_upload_candidates(cutoff, upload_after, batch):
        upload_after = ids[-1]
        for upload_id in ids:
            if dry_run:
                report.uploads += 1
                continue
            ended = metadata.gc_delete_upload(upload_id, cutoff)
            if ended is not None:
                storage.upload_abort(upload_id, ended.state)
                report.uploads += 1

    # --- debris: objects no record names, upload data no session owns --------------------------
    report.orphan_files += _sweep(
        storage.walk("objects"),
        metadata.known_keys,
        lambda info: info.path,
        cutoff,
        dry_run,
        storage,
        batch,
    )
    report.orphan_files += _sweep(
        storage.walk("blobs"),
        metadata.known_keys,
        lambda info: info.path,
        cutoff,
        dry_run,
        storage,
        batch,
    )
    report.orphan_files += _sweep(
        storage.walk("uploads"),
        metadata.upload_ids,
        lambda info: info.path.split("/")[1],
        cutoff,
        dry_run,
        storage,
        batch,
    )
    if not dry_run:
        report.orphan_files += storage.purge_temporary(cutoff)
    return report


def _collect(
    metadata: MetadataStore,
    storage: StorageDriver,
    cutoff: float,
    delete_untagged: bool,
    batch: int,
    report: GCReport,
) -> None:
    """Remove manifests, links and blobs, pass after pass."""
    # --- manifests --------------------------------------------------------------------------
    if delete_untagged:
        while True:
            deleted = 0
            after: tuple[str, str] | None = None
            while page := metadata.gc_manifest_candidates(cutoff, after, batch):
                after = page[-1]
                for repo, digest in page:
                    if metadata.gc_delete_manifest(repo, digest, cutoff):
                        report.manifests.append((repo, digest))
                        deleted += 1
            if not deleted:
                break

    # --- blob links -------------------------------------------------------------------------
    link_after: tuple[str, str] | None = None
    while links := metadata.gc_link_candidates(cutoff, link_after, batch):
        link_after = links[-1]
        report.links += metadata.gc_delete_links(links, cutoff)

    # --- blobs ------------------------------------------------------------------------------
    blob_after: str | None = None
    while blobs := metadata.gc_blob_candidates(cutoff, blob_after, batch):
        blob_after = blobs[-1].digest
        for record in blobs:
            gone = metadata.gc_delete_blob(record.digest, cutoff)
            if gone is None:
                continue
            storage.delete(gone.key)  # only now that no record names it
            report.blobs.append(gone.digest)
            report.bytes_freed += gone.size


def _rehearse(
    metadata: MetadataStore,
    cutoff: float,
    delete_untagged: bool,
    batch: int,
    report: GCReport,
    going: Sequence[tuple[str, str]] = (),
) -> None:
    """Report what ``_collect`` would remove now, removing nothing. ``going``: manifests a
    real run removes before it starts (signatures whose image is gone), already reported."""
    gone: set[tuple[str, str]] = set(going)
    freed: list[tuple[str, str]] = []  # links the manifests that go reference

    def would_go(repo: str, facts: ManifestFacts) -> bool:
        return (
            facts.pushed < cutoff
            and not facts.tagged
            and all((repo, parent) in gone for parent in facts.parents)
            and (not facts.subject_present or (repo, str(facts.subject)) in gone)
        )

    queue: list[tuple[str, str]] = list(dict.fromkeys(going))
    if delete_untagged:
        after: tuple[str, str] | None = None
        while page := metadata.gc_manifest_candidates(cutoff, after, batch):
            after = page[-1]
            fresh = [candidate for candidate in page if candidate not in gone]
            gone.update(fresh)
            queue.extend(fresh)
            report.manifests.extend(fresh)
    # Each manifest that goes frees its blobs' links, and with --delete-untagged may free its
    # children and its referrers, as passes do.
    while queue:
        repo, digest = queue.pop(0)
        facts = metadata.gc_manifest_facts(repo, digest)
        if facts is None:
            continue
        freed.extend((repo, blob) for blob in facts.blobs)
        if delete_untagged:
            for other in (*facts.children, *facts.referrers):
                if (repo, other) in gone:
                    continue
                found = metadata.gc_manifest_facts(repo, other)
                if found is not None and would_go(repo, found):
                    gone.add((repo, other))
                    report.manifests.append((repo, other))
                    queue.append((repo, other))

    # Links no manifest references now, and those only manifests that go reference.
    dropped: set[tuple[str, str]] = set()
    link_after: tuple[str, str] | None = None
    while links := metadata.gc_link_candidates(cutoff, link_after, batch):
        link_after = links[-1]
        dropped.update(links)
    for repo, blob in freed:
        if (repo, blob) in dropped:
            continue
        link = metadata.gc_link_facts(repo, blob)
        if link is not None and link[0] < cutoff and all((repo, p) in gone for p in link[1]):
            dropped.add((repo, blob))
    report.links = len(dropped)

    # Blobs no repository links now, and those whose every link is dropped.
    sizes: dict[str, int] = {}
    blob_after: str | None = None
    while unlinked := metadata.gc_blob_candidates(cutoff, blob_after, batch):
        blob_after = unlinked[-1].digest
        sizes.update((record.digest, record.size) for record in unlinked)
    for digest in sorted({blob for _repo, blob in dropped}):
        found_blob = metadata.gc_blob_facts(digest)
        if found_blob is None:
            continue
        record, last_used, repos = found_blob
        if last_used < cutoff and all((repo, digest) in dropped for repo in repos):
            sizes[digest] = record.size
    report.blobs = sorted(sizes)
    report.bytes_freed = sum(sizes.values())


def _sweep(
    files: Iterator[FileInfo],
    known: Callable[[Sequence[str]], set[str]],
    owner: Callable[[FileInfo], str],
    cutoff: float,
    dry_run: bool,
    storage: StorageDriver,
    batch: int,
) -> int:
    """Delete old files whose owner (a blob key, an upload id) the metadata does not know."""
    removed = 0
    pending: list[FileInfo] = []

    def flush() -> int:
        present = known([owner(info) for info in pending])
        n = 0
        for info in pending:
            if owner(info) not in present and (dry_run or storage.delete(info.path)):
                n += 1
        pending.clear()
        return n

    for info in files:
        if info.mtime >= cutoff or info.path.count("/") < 1:
            continue
        pending.append(info)
        if len(pending) >= batch:
            removed += flush()
    if pending:
        removed += flush()
    return removed


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
