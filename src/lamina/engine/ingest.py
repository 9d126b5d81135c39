"""Committing an image of an archive into the store, in one ``store.adding()`` transaction.

Files first, metadata last: every layer blob is stored and unpacked (its diff_id checked while
unpacking), then the config and manifest blobs, and only then is the image recorded. A layer
already present, shared with another image, is neither copied nor unpacked again.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.errors import IntegrityError, InvalidManifest
from lamina.image.base import Image, Layer
from lamina.model.chain import chain_ids
from lamina.model.digest import Digest
from lamina.store import Adding, ImageRecord, LayerRecord, Store


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
    with store.adding() as tx:
        records = _store_layers(tx, layers, config.diff_ids)
        return tx.record(config, manifest, records, parent=parent, raw_config=raw_config)


def _store_layers(tx: Adding, layers: Sequence[Layer], diff_ids: Sequence[Digest]
                  ) -> list[LayerRecord]:
    records: list[LayerRecord] = []
    for layer, diff_id, chain_id in zip(layers, diff_ids, chain_ids(diff_ids), strict=True):
        tx.ingest_blob(layer.open_compressed, layer.digest, layer.size,
                       what=f"layer {layer.digest.short}")
        records.append(tx.unpack_blob(LayerRecord(diff_id, chain_id, layer.digest,
                                                  layer.media_type, layer.size, 0)))
    return records
