"""Turning a step into an image of the store: its layer (if any), its config, its manifest.

``commit_layer`` writes the step's directory as a reproducible layer tar (``write_layer``:
sorted entries, whiteouts, mtimes clamped to ``SOURCE_DATE_EPOCH``), gzips it into a blob and
unpacks it as the snapshot of its ChainID. ``commit_image`` appends the step to the parent's
config (one history entry; one diff_id if it made a layer) and records the new image with its
``parent``, as docker's builder does, so ``history`` can show each step's ID.

The cache of steps (key -> image) is the store's (``Store.build_cache``).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from lamina.image import mutate
from lamina.model import mediatype
from lamina.model.chain import chain_ids
from lamina.model.config import ImageConfig
from lamina.model.digest import Digest
from lamina.store import MAX_LAYER_SIZE, LayerRecord, Store

__all__ = ["MAX_LAYER_SIZE", "ImageState", "commit_image", "commit_layer"]


@dataclass
class ImageState:
    """A stage as far as it is built: the image config so far, its layers, its image ID."""

    data: dict[str, Any]
    layers: list[LayerRecord] = field(default_factory=list)
    image_id: Digest | None = None  # None: nothing recorded yet (scratch)

    @property
    def config(self) -> dict[str, Any]:
        cfg = self.data.get("config")
        if not isinstance(cfg, dict):
            cfg = self.data["config"] = {}
        return cfg

    @property
    def chain_ids(self) -> list[Digest]:
        return [layer.chain_id for layer in self.layers]

    def copy(self) -> ImageState:
        return ImageState(copy.deepcopy(self.data), list(self.layers), self.image_id)

    @classmethod
    def load(cls, store: Store, image_id: Digest) -> ImageState:
        record = store.image(image_id)
        config = ImageConfig.parse(store.blobs.read(record.id))
        return cls(copy.deepcopy(config.data), list(record.layers), record.id)


def commit_layer(store: Store, directory: Path, below: list[LayerRecord],
                 source_date_epoch: int | None) -> LayerRecord:
    from lamina.image.compression import compress_gzip
    from lamina.image.layer import write_layer

    tmp = store.scratch.file("layer")
    try:
        with os.fdopen(os.dup(tmp.fd), "w+b") as tar, store.adding() as tx:
            write_layer(directory, cast(BinaryIO, tar), source_date_epoch=source_date_epoch)
            tar.flush()
            tar.seek(0)
            with store.blobs.writer(what="build layer") as writer:
                digests = compress_gzip(cast(BinaryIO, tar), cast(BinaryIO, writer))
            chain = chain_ids([*(layer.diff_id for layer in below), digests.diff_id])[-1]
            tar.seek(0)
            # From the plain tar kept here: no need to decompress the blob just written.
            unpacked = tx.unpack(chain, cast(BinaryIO, tar), mediatype.OCI_LAYER,
                                 digests.diff_id)
    finally:
        tmp.discard()
    return LayerRecord(digests.diff_id, chain, digests.digest, mediatype.OCI_LAYER_GZIP,
                       digests.size, unpacked)


def commit_image(store: Store, state: ImageState, *, created: str, created_by: str,
                 layer: LayerRecord | None, history: bool = True,
                 comment: str | None = "buildkit.dockerfile.v0") -> ImageState:
    """The state after one step; the step's image recorded with the state's as parent."""
    step = mutate.Step(created, created_by, comment=comment)
    data = mutate.append(state.data, step, layer.diff_id if layer else None, history=history)
    layers = [*state.layers, layer] if layer is not None else list(state.layers)
    config, manifest = mutate.new_image(data, layers)
    with store.adding() as tx:
        record = tx.record(config, manifest, layers, parent=state.image_id)
    return ImageState(data, layers, record.id)
