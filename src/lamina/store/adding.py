"""Adding images to the store: one transaction for pull, load, import, commit and build.

Every way in does the same things in the same order: put blobs, unpack snapshots, record the
image (files first, metadata last), and, if anything fails half-way, remove what it stored
that nothing uses. Between the first file and the record, that content is referenced by
nothing, so gc in another process must keep off it: the transaction holds the store's lease
for as long as it is open. The lease is the transaction's, not a rule about call order::

    with store.adding() as tx:
        unpacked = tx.unpack(chain_id, stream, media_type, diff_id)
        record = tx.record(config, manifest, layers)

A transaction opened inside another (a build pulling its base image) joins it: the lease is
held until the outer one ends, and only the outer one cleans up after a failure, so an inner
failure never collects the outer one's content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, BinaryIO

from lamina.model.digest import Digest
from lamina.store.records import ImageRecord, LayerRecord

if TYPE_CHECKING:
    from lamina.model.config import ImageConfig
    from lamina.model.manifest import Manifest
    from lamina.store import Store
    from lamina.store.partial import PartialBlob

# The most a single layer may expand to: a bound on decompression bombs, far above real layers.
MAX_LAYER_SIZE = 64 * 1024**3


class Adding:
    """An open transaction adding content and images to ``store`` (see ``Store.adding``)."""

    def __init__(self, store: Store, max_layer_size: int = MAX_LAYER_SIZE) -> None:
        self.store = store
        self.max_layer_size = max_layer_size
        self.records: list[ImageRecord] = []  # the images recorded so far

    def has_layer(self, chain_id: Digest, digest: Digest, foreign: bool = False) -> bool:
        """Whether the layer is complete here: its snapshot, and its blob (a foreign layer's
        blob is never distributed, so it is not needed)."""
        store = self.store
        return store.snapshots.has(chain_id) and (foreign or store.blobs.has(digest))

    def put_blob(self, data: bytes, digest: Digest | None = None) -> Digest:
        """Store ``data`` (verified against ``digest`` when given)."""
        return self.store.blobs.put(data, digest)

    def ingest_blob(self, source: Callable[[], AbstractContextManager[BinaryIO]],
                    digest: Digest, size: int, *, what: str) -> None:
        """Store the blob ``source`` opens, unless it is here (then it is not opened); its
        size and digest checked."""
        if not self.store.blobs.has(digest):
            with source() as stream:
                self.store.blobs.ingest(stream, digest, size, what=what)

    def partial(self, digest: Digest, size: int, *, what: str) -> PartialBlob:
        """A resumable download of blob ``digest``: the bytes kept by an earlier attempt, if
        any, to be continued (see ``lamina.store.partial``)."""
        return self.store.blobs.partial(digest, size, what=what)

    def unpack(self, chain_id: Digest, stream: BinaryIO, media_type: str, diff_id: Digest, *,
               check: Callable[[], None] | None = None) -> int:
        """Unpack a layer as snapshot ``chain_id`` (its diff_id and size checked); its size."""
        return self.store.snapshots.unpack(chain_id, stream, media_type, diff_id,
                                           self.max_layer_size, check=check)

    def unpack_blob(self, layer: LayerRecord) -> LayerRecord:
        """Unpack a layer from its stored blob; ``layer`` with its unpacked size."""
        with self.store.blobs.open(layer.digest) as stream:
            unpacked = self.unpack(layer.chain_id, stream, layer.media_type, layer.diff_id)
        return layer._replace(unpacked_size=unpacked)

    def record(self, config: ImageConfig, manifest: Manifest, layers: Sequence[LayerRecord], *,
               parent: Digest | None = None, raw_config: bytes | None = None) -> ImageRecord:
        """Store the config and manifest blobs, then record the image (one database
        transaction; StorageError if any file it names is not complete in the store)."""
        self.put_blob(raw_config if raw_config is not None else config.raw,
                      manifest.config.digest)
        self.put_blob(manifest.raw, manifest.digest)
        record = self.store.put_image(config, manifest, layers, parent=parent)
        self.records.append(record)
        return record
