"""``image/mutate``: one more step on an image config, and its manifest, done once."""

from __future__ import annotations

import re

from lamina.image import mutate
from lamina.model import mediatype
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest

BASE = {
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/bin"]},
    "created": "2020-01-01T00:00:00Z",
    "author": "someone",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
    "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "base"}],
}
DIFF = Digest("sha256:" + "2" * 64)


def test_timestamp() -> None:
    assert mutate.timestamp(0) == "1970-01-01T00:00:00Z"
    assert mutate.timestamp(1700000000) == "2023-11-14T22:13:20Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", mutate.timestamp())


def test_append_a_layer() -> None:
    step = mutate.Step("2024-01-01T00:00:00Z", "/bin/sh -c make", comment="why")
    data = mutate.append(BASE, step, DIFF)
    assert data["created"] == "2024-01-01T00:00:00Z"
    assert data["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64, str(DIFF)]
    assert data["history"][-1] == {"created": "2024-01-01T00:00:00Z",
                                   "created_by": "/bin/sh -c make", "comment": "why"}
    # Key order is kept (it is part of the image ID), and the base is left as it was.
    assert list(data) == list(BASE)
    assert BASE["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64]  # type: ignore[index]
    assert len(BASE["history"]) == 1  # type: ignore[arg-type]


def test_append_an_empty_step_and_no_history() -> None:
    step = mutate.Step("2024-01-01T00:00:00Z", "ENV A=b", author="me")
    data = mutate.append(BASE, step, None)
    assert data["rootfs"] == BASE["rootfs"]
    assert data["history"][-1] == {"created": "2024-01-01T00:00:00Z", "created_by": "ENV A=b",
                                   "author": "me", "empty_layer": True}
    assert mutate.append(BASE, step, None, history=False)["history"] == BASE["history"]
    # From nothing (scratch, import): a rootfs appears even without a layer.
    assert mutate.append({}, step, None)["rootfs"] == {"type": "layers", "diff_ids": []}


def test_replace_config() -> None:
    data = mutate.replace_config(BASE, {"Cmd": ["sh"]}, author="")
    assert data["config"] == {"Cmd": ["sh"]} and "author" not in data
    assert mutate.replace_config(BASE, {}, author="me")["author"] == "me"
    assert BASE["author"] == "someone"


def test_new_image() -> None:
    layer = Descriptor(mediatype.OCI_LAYER_GZIP, Digest("sha256:" + "3" * 64), 42)
    config, manifest = mutate.new_image(mutate.append(BASE, mutate.Step(mutate.timestamp()), DIFF), [layer])
    assert manifest.config.digest == config.id
    assert manifest.config.size == len(config.raw)
    assert manifest.media_type == mediatype.OCI_MANIFEST
    assert [(d.media_type, d.digest, d.size) for d in manifest.layers] == [
        (layer.media_type, layer.digest, 42)]
    assert config.diff_ids[-1] == DIFF
