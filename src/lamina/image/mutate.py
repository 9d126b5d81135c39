"""Making a new image from an old one: one more step (a layer or not), a replaced config.

``commit``, ``import`` and every ``build`` step each make an image as docker does: the parent's
config with ``created`` set, one more ``history`` entry saying what made it, one more diff_id
if the step made a layer, and a manifest naming the parent's layers plus the new one. Here is
that procedure once; the config's key order is kept as given (it is part of the image ID).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.model import mediatype
from lamina.model.config import ImageConfig
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest


def timestamp(epoch: int | None = None) -> str:
    """RFC 3339 in UTC as docker writes ``created``: now, to the nanosecond; or, for a
    reproducible build (``SOURCE_DATE_EPOCH``), the given second."""
    if epoch is not None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    now = time.time_ns()  # one reading: the seconds and the fraction agree
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + \
        f".{now % 10**9:09d}Z"


@dataclass(frozen=True)
class Step:
    """What one history entry says: when, what made it, who, why."""

    created: str
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None

    def entry(self, empty_layer: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"created": self.created}
        if self.created_by is not None:
            entry["created_by"] = self.created_by
        if self.author:
            entry["author"] = self.author
        if self.comment:
            entry["comment"] = self.comment
        if empty_layer:
            entry["empty_layer"] = True
        return entry


def append(data: Mapping[str, Any], step: Step, diff_id: Digest | None, *,
           history: bool = True) -> dict[str, Any]:
    """The config after ``step``: ``created`` set, ``diff_id`` (if it made a layer) appended to
    the rootfs, and a history entry (``empty_layer`` when it made none) unless ``history`` is
    False. ``data`` is left as it was."""
    result = copy.deepcopy(dict(data))
    result["created"] = step.created
    rootfs = result.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    if diff_id is not None:
        rootfs.setdefault("diff_ids", []).append(str(diff_id))
    if history:
        result["history"] = [*(result.get("history") or []), step.entry(diff_id is None)]
    return result


def replace_config(data: Mapping[str, Any], container_config: Mapping[str, Any], *,
                   author: str | None = None) -> dict[str, Any]:
    """The image config with another container config (``Env``, ``Cmd``...), and its
    ``author`` set (or removed, when empty), as ``commit`` records them."""
    result = dict(data)
    result["config"] = dict(container_config)
    if author:
        result["author"] = author
    else:
        result.pop("author", None)
    return result


class Layer(Protocol):
    """A layer as a manifest names it (a Descriptor, or a store's LayerRecord)."""

    @property
    def media_type(self) -> str: ...
    @property
    def digest(self) -> Digest: ...
    @property
    def size(self) -> int: ...


def new_image(data: Mapping[str, Any], layers: Sequence[Layer]) -> tuple[ImageConfig, Manifest]:
    """The config of ``data`` and an OCI manifest naming it and ``layers``, in order."""
    config = ImageConfig.build(data)
    manifest = Manifest.build(
        Descriptor(mediatype.OCI_CONFIG, config.id, len(config.raw)),
        [Descriptor(layer.media_type, layer.digest, layer.size) for layer in layers])
    return config, manifest
