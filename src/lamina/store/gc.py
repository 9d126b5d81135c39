"""Garbage collection: remove the blobs and snapshots that nothing references any more.

Deletion goes the other way round from addition: metadata first, files after. The rows that
nothing references are deleted in one transaction; then, holding the exclusive lease (so no
process is between writing files and recording them, see ``lease``), the references are read
afresh and every file outside them is removed. A crash in the middle leaves only unreferenced
files, which the next gc removes. Leftovers of dead processes in ``tmp/`` go as well.
"""

from __future__ import annotations

import sqlite3

from lamina.errors import NotFound
from lamina.model.digest import Digest
from lamina.store.blobs import BlobStore
from lamina.store.db import Database
from lamina.store.lease import Lease
from lamina.store.scratch import Scratch
from lamina.store.snapshots import SnapshotStore

_BLOB_REFERENCES = """
    SELECT id FROM images
    UNION SELECT manifest_digest FROM images
    UNION SELECT digest FROM image_layers
    UNION SELECT digest FROM manifests
    UNION SELECT digest FROM repo_digests
"""
_SNAPSHOT_REFERENCES = "SELECT chain_id FROM image_layers UNION SELECT chain_id FROM layers"


def prune_metadata(conn: sqlite3.Connection) -> None:
    """Delete the rows no image references: layers no image has, manifests of no image."""
    conn.execute(
        "DELETE FROM layers WHERE NOT EXISTS"
        " (SELECT 1 FROM image_layers il WHERE il.chain_id = layers.chain_id)"
    )
    conn.execute(
        "DELETE FROM manifests WHERE image_id IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM repo_digests r WHERE r.digest = manifests.digest)"
    )


def references(conn: sqlite3.Connection) -> tuple[set[str], set[str]]:
    """The blob digests and snapshot chain IDs the metadata references."""
    blobs = {row[0] for row in conn.execute(_BLOB_REFERENCES)}
    snapshots = {row[0] for row in conn.execute(_SNAPSHOT_REFERENCES)}
    return blobs, snapshots


def collect(
    db: Database,
    blobs: BlobStore,
    snapshots: SnapshotStore,
    scratch: Scratch,
    lease: Lease,
    *,
    wait: float | None,
) -> int:
    """Remove unreferenced files; return the bytes reclaimed.

    If another process keeps adding content for longer than ``wait`` seconds, the files are
    left for a later gc and 0 is returned (the metadata is pruned either way).
    """
    db.write(prune_metadata)
    with lease.exclusive(wait) as got:
        if not got:
            return 0
        blob_refs, snapshot_refs = db.read(references)
        db.make_durable()  # a power loss must not bring back rows whose files we delete
        reclaimed = 0
        for digest in list(blobs.digests()):
            if digest in blob_refs:
                continue
            try:
                size = blobs.size(digest)
            except NotFound:
                continue
            if blobs.delete(digest):
                reclaimed += size
        for chain_id in list(snapshots.chain_ids()):
            if chain_id not in snapshot_refs:
                reclaimed += snapshots.remove(Digest(chain_id))
        scratch.clean()
    return reclaimed
