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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from lamina.model import mediatype
from lamina.model.chain import chain_ids
from lamina.model.config import ImageConfig
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest
from lamina.store import LayerRecord, Store

MAX_LAYER_SIZE = 64 * 1024**3


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


def timestamp(source_date_epoch: int | None) -> str:
    if source_date_epoch is not None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(source_date_epoch))
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + \
        f".{now % 10**9:09d}Z"


def commit_layer(store: Store, directory: Path, below: list[LayerRecord],
                 source_date_epoch: int | None) -> LayerRecord:
    from lamina.image.compression import compress_gzip
    from lamina.image.layer import write_layer

    tmp = store.scratch.file("layer")
    try:
        with os.fdopen(os.dup(tmp.fd), "w+b") as tar:
            write_layer(directory, cast(BinaryIO, tar), source_date_epoch=source_date_epoch)
            tar.flush()
            tar.seek(0)
            with store.blobs.writer(what="build layer") as writer:
                digests = compress_gzip(cast(BinaryIO, tar), cast(BinaryIO, writer))
            chain = chain_ids([*(layer.diff_id for layer in below), digests.diff_id])[-1]
            tar.seek(0)
            unpacked = store.snapshots.unpack(chain, cast(BinaryIO, tar), mediatype.OCI_LAYER,
                                              digests.diff_id, MAX_LAYER_SIZE)
    finally:
        tmp.discard()
    return LayerRecord(digests.diff_id, chain, digests.digest, mediatype.OCI_LAYER_GZIP,
                       digests.size, unpacked)


def commit_image(store: Store, state: ImageState, *, created: str, created_by: str,
                 layer: LayerRecord | None, history: bool = True,
                 comment: str | None = "buildkit.dockerfile.v0") -> ImageState:
    """The state after one step; the step's image recorded with the state's as parent."""
    data = copy.deepcopy(state.data)
    data["created"] = created
    rootfs = data.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    layers = list(state.layers)
    if layer is not None:
        rootfs.setdefault("diff_ids", []).append(layer.diff_id)
        layers.append(layer)
    if history:
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if layer is None:
            entry["empty_layer"] = True
        data.setdefault("history", []).append(entry)
    config = ImageConfig.build(data)
    store.blobs.put(config.raw, config.id)
    manifest = Manifest.build(
        Descriptor(mediatype.OCI_CONFIG, config.id, len(config.raw)),
        [Descriptor(r.media_type, r.digest, r.size) for r in layers],
    )
    store.blobs.put(manifest.raw, manifest.digest)
    record = store.put_image(config, manifest, layers, parent=state.image_id)
    return ImageState(data, layers, record.id)
