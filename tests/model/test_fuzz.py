"""Arbitrary input to the parsers fails only with lamina's own errors, never with a crash."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.errors import InvalidManifest, Unsupported
from lamina.model import mediatype as mt
from lamina.model.config import ImageConfig
from lamina.model.manifest import parse_manifest

_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
_keys = st.sampled_from(
    [
        "schemaVersion", "mediaType", "config", "layers", "manifests", "digest", "size", "urls",
        "annotations", "platform", "os", "architecture", "variant", "subject", "artifactType",
        "rootfs", "type", "diff_ids", "history", "empty_layer", "created", "Cmd", "Env", "Labels",
        "fsLayers", "data",
    ]
) | st.text(max_size=4)  # fmt: skip
_json = st.recursive(
    _scalars | st.sampled_from([2, "layers", mt.OCI_MANIFEST, mt.OCI_INDEX, "sha256:" + "a" * 64]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=6),
    max_leaves=30,
)
_declared = st.none() | st.sampled_from(
    [mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST, "application/json"]
)


@settings(max_examples=300)
@given(_json, _declared)
def test_parse_manifest_only_raises_lamina_errors(doc: Any, declared: str | None) -> None:
    try:
        parsed = parse_manifest(json.dumps(doc).encode(), declared)
    except (InvalidManifest, Unsupported):
        return
    assert parsed.raw == json.dumps(doc).encode()


@settings(max_examples=300)
@given(_json)
def test_image_config_only_raises_lamina_errors(doc: Any) -> None:
    try:
        ImageConfig.parse(json.dumps(doc).encode())
    except InvalidManifest:
        return


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_arbitrary_bytes(raw: bytes) -> None:
    for parse in (parse_manifest, ImageConfig.parse):
        with contextlib.suppress(InvalidManifest, Unsupported):
            parse(raw)
