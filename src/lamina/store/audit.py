"""A full consistency check of a store, for crash tests and ``lamina system`` commands.

It reads every blob, so it is slow on a big store; nothing on a hot path calls it.
"""

from __future__ import annotations

from lamina.errors import LaminaError
from lamina.store.blobs import BlobStore
from lamina.store.catalog import Catalog
from lamina.store.snapshots import SnapshotStore


def audit(catalog: Catalog, blobs: BlobStore, snapshots: SnapshotStore) -> list[str]:
    """Every problem found, one line each; an empty list means the store is sound.

    Checks that each blob's bytes match its name, that each snapshot in place is complete,
    and that everything the metadata references is there and found by ``resolve``.
    """
    problems: list[str] = []
    for digest in blobs.digests():
        if not blobs.verify(digest):
            problems.append(f"blob {digest}: content does not match its digest")
    for chain_id in snapshots.chain_ids():
        try:
            if snapshots.meta(chain_id).get("chain_id") != chain_id:
                problems.append(f"snapshot {chain_id}: metadata names another layer")
        except LaminaError as err:
            problems.append(f"snapshot {chain_id}: {err}")
        if not snapshots.path(chain_id).is_dir():
            problems.append(f"snapshot {chain_id}: no fs directory")
    for image in catalog.images():
        where = f"image {image.id.short}"
        for digest in (image.id, image.manifest_digest):
            if not blobs.has(digest):
                problems.append(f"{where}: blob {digest} is missing")
        for layer in image.layers:
            if not blobs.has(layer.digest):
                problems.append(f"{where}: layer blob {layer.digest} is missing")
            if not snapshots.has(layer.chain_id):
                problems.append(f"{where}: snapshot {layer.chain_id} is missing")
        names = [str(image.id), *(str(tag) for tag in image.tags)]
        for name in names:
            try:
                found = catalog.resolve(name).id
            except LaminaError as err:
                problems.append(f"{where}: {name} does not resolve: {err}")
                continue
            if found != image.id:
                problems.append(f"{where}: {name} resolves to {found}")
    return problems
