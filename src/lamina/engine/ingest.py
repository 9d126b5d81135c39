"""Committing an image from any source (an archive, later a registry) into the store.

Files first, metadata last: every layer blob is stored and unpacked (its diff_id checked while
unpacking), then the config and manifest blobs, and only then is the image recorded. A layer
already present, shared with another image, is neither copied nor unpacked again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from lamina.errors import IntegrityError, InvalidManifest
from lamina.image.base import Image, Layer
from lamina.model.chain import chain_ids
from lamina.model.digest import Digest
from lamina.store import ImageRecord, LayerRecord, Store

# The most a single layer may expand to: a bound on decompression bombs, far above real layers.
MAX_LAYER_SIZE = 64 * 1024**3


def ingest_image(store: Store, image: Image, *, parent: Digest | None = None) -> ImageRecord:
    """Store every blob and snapshot of ``image``, then record it (under ``parent``, if built)."""
    manifest = image.manifest()
    raw_config = image.raw_config()
    expected = manifest.config.digest
    if Digest.of(raw_config, expected.algorithm) != expected:
        raise IntegrityError(f"image config does not match its digest {expected}")
    config = image.config()
    layers = image.layers()
    if len(layers) != len(config.diff_ids):
        raise InvalidManifest(
            f"image {config.id.short}: manifest has {len(layers)} layers but the config "
            f"names {len(config.diff_ids)} diff_ids"
        )
    with cleanup_on_failure(store):
        records = _store_layers(store, layers, config.diff_ids)
        store.blobs.put(raw_config, expected)
        store.blobs.put(manifest.raw, manifest.digest)
        try:
            return store.put_image(config, manifest, records, parent=parent)
        finally:
            store.release()


@contextmanager
def cleanup_on_failure(store: Store) -> Iterator[None]:
    """If adding an image fails half-way, remove what it had stored and nothing uses.

    Files go in before metadata, so a failure can leave blobs or snapshots behind; a gc that
    does not wait for other writers removes them, and leaves anything another process is
    adding (it holds the lease) alone.

    The block holds the lease from its start: what it finds already in the store (a shared
    layer's blob or snapshot) is only still there when the image is recorded if no gc could
    run in between. Looked up before the lease, it could be a file another process's gc was
    removing right then (``image prune`` racing a ``load`` of an image it just untagged)."""
    try:
        with store.lease():
            yield
    except BaseException:
        store.release()
        store.gc(wait=0)
        raise


def _store_layers(store: Store, layers: Sequence[Layer], diff_ids: Sequence[Digest]
                  ) -> list[LayerRecord]:
    records: list[LayerRecord] = []
    for layer, diff_id, chain_id in zip(layers, diff_ids, chain_ids(diff_ids), strict=True):
        if not store.blobs.has(layer.digest):
            with layer.open_compressed() as stream:
                store.blobs.ingest(stream, layer.digest, layer.size,
                                   what=f"layer {layer.digest.short}")
        with store.blobs.open(layer.digest) as stream:
            unpacked = store.snapshots.unpack(chain_id, stream, layer.media_type, diff_id,
                                              MAX_LAYER_SIZE)
        records.append(LayerRecord(diff_id, chain_id, layer.digest, layer.media_type,
                                   layer.size, unpacked))
    return records
