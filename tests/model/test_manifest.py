"""Manifests and indexes: valid documents of each kind, and hostile ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.errors import InvalidManifest, Unsupported
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Index, Manifest, parse_manifest
from lamina.model.platform import Platform

CFG = Digest.of(b"config")
L1 = Digest.of(b"layer1")
L2 = Digest.of(b"layer2")
M1 = Digest.of(b"manifest1")
M2 = Digest.of(b"manifest2")


def docker_manifest() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "size": 1469, "digest": CFG},
        "layers": [
            {"mediaType": mt.DOCKER_LAYER, "size": 3370706, "digest": L1},
            {
                "mediaType": mt.DOCKER_FOREIGN_LAYER,
                "size": 2,
                "digest": L2,
                "urls": ["https://example.com/layer"],
            },
        ],
    }


def oci_manifest() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": CFG, "size": 7},
        "layers": [
            {"mediaType": mt.OCI_LAYER_GZIP, "digest": L1, "size": 10},
            {"mediaType": mt.OCI_LAYER_ZSTD, "digest": L2, "size": 20},
        ],
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }


def oci_index() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": M1,
                "size": 100,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": M2,
                "size": 200,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            },
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": Digest.of(b"att"),
                "size": 300,
                "platform": {"architecture": "unknown", "os": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            },
        ],
    }


def enc(doc: Any, indent: int | None = 3) -> bytes:
    return json.dumps(doc, indent=indent).encode()


# --- valid documents --------------------------------------------------------------------------


def test_docker_manifest() -> None:
    raw = enc(docker_manifest())
    m = parse_manifest(raw, mt.DOCKER_MANIFEST)
    assert isinstance(m, Manifest)
    assert m.media_type == mt.DOCKER_MANIFEST and m.is_docker
    assert m.config == Descriptor(mt.DOCKER_CONFIG, CFG, 1469)
    assert [layer.digest for layer in m.layers] == [L1, L2]
    assert m.layers[1].urls == ("https://example.com/layer",)
    assert m.raw is raw or m.raw == raw
    assert m.digest == Digest.of(raw)
    assert m.size == len(raw)


def test_raw_bytes_are_kept_exactly() -> None:
    # Odd whitespace and key order must survive: the digest is over the bytes received.
    doc = oci_manifest()
    raw = b'  {"layers": ' + enc(doc["layers"], None) + b',\n"config":' + enc(doc["config"], 7)
    raw += b', "schemaVersion"  :2}\n'
    m = parse_manifest(raw)
    assert m.raw == raw
    assert m.digest == Digest.of(raw)
    assert m.media_type == mt.OCI_MANIFEST  # inferred from the body's shape


@pytest.mark.parametrize(
    "declared",
    [None, mt.OCI_MANIFEST, mt.OCI_MANIFEST + "; charset=utf-8", "application/json", ""],
)
def test_oci_manifest_declared_or_not(declared: str | None) -> None:
    m = parse_manifest(enc(oci_manifest()), declared)
    assert isinstance(m, Manifest)
    assert m.media_type == mt.OCI_MANIFEST
    assert m.annotations == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    assert [mt.compression(layer.media_type) for layer in m.layers] == ["gzip", "zstd"]


def test_manifest_without_body_media_type_takes_declared() -> None:
    doc = docker_manifest()
    del doc["mediaType"]
    m = parse_manifest(enc(doc), mt.DOCKER_MANIFEST)
    assert m.media_type == mt.DOCKER_MANIFEST


def test_docker_manifest_with_oci_only_fields_is_fine() -> None:
    doc = docker_manifest()
    doc["annotations"] = {"a": "b"}
    doc["subject"] = {"mediaType": mt.DOCKER_MANIFEST, "digest": M1, "size": 5}
    doc["artifactType"] = "application/vnd.example+json"
    m = parse_manifest(enc(doc))
    assert isinstance(m, Manifest)
    assert m.subject is not None and m.subject.digest == M1
    assert m.artifact_type == "application/vnd.example+json"


def test_artifact_manifest_with_empty_config_and_no_layers() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom",
        "config": {
            "mediaType": mt.OCI_EMPTY,
            "digest": Digest.of(b"{}"),
            "size": 2,
            "data": "e30=",
        },
        "layers": [],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": M1, "size": 100},
    }
    m = Manifest.parse(enc(doc))
    assert m.layers == ()
    assert m.config.data == "e30="
    assert m.subject == Descriptor(mt.OCI_MANIFEST, M1, 100)


@pytest.mark.parametrize("declared", [None, mt.OCI_INDEX])
def test_oci_index(declared: str | None) -> None:
    raw = enc(oci_index())
    idx = parse_manifest(raw, declared)
    assert isinstance(idx, Index)
    assert idx.media_type == mt.OCI_INDEX
    assert [d.digest for d in idx.manifests][:2] == [M1, M2]
    assert idx.digest == Digest.of(raw)
    assert idx.manifests[1].platform == Platform("linux", "arm64", "v8")


def test_index_inferred_without_media_type() -> None:
    doc = oci_index()
    del doc["mediaType"]
    assert parse_manifest(enc(doc)).media_type == mt.OCI_INDEX


def test_docker_manifest_list() -> None:
    doc = oci_index()
    doc["mediaType"] = mt.DOCKER_MANIFEST_LIST
    for entry in doc["manifests"]:
        entry["mediaType"] = mt.DOCKER_MANIFEST
    idx = Index.parse(enc(doc), mt.DOCKER_MANIFEST_LIST)
    assert idx.media_type == mt.DOCKER_MANIFEST_LIST


def test_index_for_platform_skips_attestations() -> None:
    idx = Index.parse(enc(oci_index()))
    assert [d.digest for d in idx.for_platform(Platform.parse("linux/amd64"))] == [M1]
    assert [d.digest for d in idx.for_platform(Platform.parse("linux/aarch64"))] == [M2]
    assert idx.for_platform(Platform.parse("linux/s390x")) == []


def test_nested_index_is_allowed() -> None:
    doc = oci_index()
    doc["manifests"].append({"mediaType": mt.OCI_INDEX, "digest": M1, "size": 1})
    assert isinstance(parse_manifest(enc(doc)), Index)


def test_parse_helpers_check_kind() -> None:
    with pytest.raises(InvalidManifest, match="expected an image manifest"):
        Manifest.parse(enc(oci_index()))
    with pytest.raises(InvalidManifest, match="expected an index"):
        Index.parse(enc(oci_manifest()))


# --- building ---------------------------------------------------------------------------------


def test_build_manifest_is_compact_in_spec_order_and_parses_back() -> None:
    config = Descriptor(mt.OCI_CONFIG, CFG, 7)
    layers = [Descriptor(mt.OCI_LAYER_GZIP, L1, 10)]
    m = Manifest.build(config, layers, annotations={"k": "v"})
    assert m.raw.startswith(b'{"schemaVersion":2,"mediaType":"' + mt.OCI_MANIFEST.encode())
    assert b" " not in m.raw
    assert list(json.loads(m.raw)) == [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "annotations",
    ]
    again = parse_manifest(m.raw)
    assert again == m
    assert again.digest == m.digest


def test_build_docker_manifest() -> None:
    config = Descriptor(mt.DOCKER_CONFIG, CFG, 7)
    m = Manifest.build(config, [Descriptor(mt.DOCKER_LAYER, L1, 1)], mt.DOCKER_MANIFEST)
    assert parse_manifest(m.raw, mt.DOCKER_MANIFEST) == m
    assert "annotations" not in json.loads(m.raw)


def test_build_index_and_descriptor() -> None:
    amd = Descriptor(mt.OCI_MANIFEST, M1, 100, platform=Platform.parse("linux/amd64"))
    idx = Index.build([amd])
    assert list(json.loads(idx.raw)) == ["schemaVersion", "mediaType", "manifests"]
    assert parse_manifest(idx.raw) == idx
    desc = idx.descriptor()
    assert desc == Descriptor(mt.OCI_INDEX, idx.digest, len(idx.raw))
    manifest = Manifest.build(Descriptor(mt.OCI_CONFIG, CFG, 7), [])
    assert manifest.descriptor(Platform.parse("linux/amd64")).platform == Platform("linux", "amd64")


def test_build_refuses_wrong_kind() -> None:
    with pytest.raises(Unsupported):
        Manifest.build(Descriptor(mt.OCI_CONFIG, CFG, 7), [], mt.OCI_INDEX)
    with pytest.raises(Unsupported):
        Index.build([], mt.OCI_MANIFEST)


# --- schema 1 ---------------------------------------------------------------------------------

SCHEMA1 = {
    "schemaVersion": 1,
    "name": "library/hello-world",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": str(L1)}],
    "history": [{"v1Compatibility": "{}"}],
    "signatures": [],
}


@pytest.mark.parametrize(
    "declared", [None, mt.DOCKER_MANIFEST_V1, mt.DOCKER_MANIFEST_V1_SIGNED, "application/json"]
)
def test_schema1_is_unsupported_with_a_clear_message(declared: str | None) -> None:
    with pytest.raises(Unsupported, match="Schema 1 is not supported"):
        parse_manifest(enc(SCHEMA1), declared)


def test_schema1_declared_with_any_body() -> None:
    with pytest.raises(Unsupported, match="Schema 1"):
        parse_manifest(b"not even json", mt.DOCKER_MANIFEST_V1_SIGNED)


# --- hostile documents ------------------------------------------------------------------------


def with_(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(doc)
    for key, value in changes.items():
        key = {"media_type": "mediaType", "schema_version": "schemaVersion"}.get(key, key)
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def bad_layer(index: int, **changes: Any) -> dict[str, Any]:
    doc = oci_manifest()
    doc["layers"][index] = with_(doc["layers"][index], **changes)
    return doc


HOSTILE: list[tuple[str, bytes, str | None, str]] = [
    ("not json", b"{", None, "invalid JSON"),
    ("empty", b"", None, "invalid JSON"),
    ("array", b"[]", None, "expected a JSON object"),
    ("string", b'"x"', None, "expected a JSON object"),
    ("null", b"null", None, "expected a JSON object"),
    ("not utf-8", b'{"a":"\xff"}', None, "not UTF-8"),
    ("duplicate key", b'{"schemaVersion":2,"schemaVersion":2,"layers":[]}', None, "duplicate key"),
    (
        "duplicate config",
        b'{"schemaVersion":2,"config":{},"config":{"mediaType":"a/b"},"layers":[]}',
        None,
        "duplicate key",
    ),
    ("NaN", b'{"schemaVersion":NaN}', None, "NaN"),
    ("Infinity", b'{"schemaVersion":2,"x":Infinity}', None, "Infinity"),
    ("deep nesting", b'{"x":' + b"[" * 100000 + b"]" * 100000 + b"}", None, "nested too deeply"),
    ("too big", b'{"x":"' + b"a" * (4 * 1024 * 1024) + b'"}', None, "larger than the limit"),
    ("huge integer", b'{"schemaVersion":' + b"9" * 5000 + b"}", None, "invalid JSON"),
    ("no schemaVersion", enc(with_(oci_manifest(), schema_version=...)), None, "schemaVersion"),
    ("schemaVersion 3", enc(with_(oci_manifest(), schema_version=3)), None, "schemaVersion"),
    ("schemaVersion '2'", enc(with_(oci_manifest(), schema_version="2")), None, "schemaVersion"),
    ("schemaVersion 2.0", enc(with_(oci_manifest(), schema_version=2.0)), None, "schemaVersion"),
    ("schemaVersion true", enc(with_(oci_manifest(), schema_version=True)), None, "schemaVersion"),
    ("mediaType not a string", enc(with_(oci_manifest(), media_type=5)), None, "mediaType"),
    (
        "declared contradicts body",
        enc(oci_manifest()),
        mt.DOCKER_MANIFEST,
        "does not match the declared type",
    ),
    (
        "declared manifest, body index type",
        enc(oci_index()),
        mt.OCI_MANIFEST,
        "does not match the declared type",
    ),
    (
        "declared manifest, body shaped as index",
        enc(with_(oci_index(), media_type=...)),
        mt.OCI_MANIFEST,
        "'manifests'",
    ),
    (
        "declared index, body shaped as manifest",
        enc(with_(oci_manifest(), media_type=...)),
        mt.OCI_INDEX,
        "as an image manifest would",
    ),
    (
        "body says index but has layers",
        enc(with_(oci_manifest(), media_type=mt.OCI_INDEX, layers=...)),
        None,
        "'config'",
    ),
    (
        "layers and manifests",
        enc(with_(oci_manifest(), manifests=[])),
        None,
        "both 'layers' and 'manifests'",
    ),
    (
        "layers and manifests, declared",
        enc(with_(oci_index(), layers=[])),
        mt.OCI_INDEX,
        "both 'layers' and 'manifests'",
    ),
    ("neither", enc({"schemaVersion": 2}), None, "neither"),
    ("missing config", enc(with_(oci_manifest(), config=...)), None, "config: missing"),
    ("config null", enc(with_(oci_manifest(), config=None)), None, "config"),
    ("config a string", enc(with_(oci_manifest(), config=str(CFG))), None, "config"),
    ("missing layers", enc(with_(oci_manifest(), layers=...)), mt.OCI_MANIFEST, "layers"),
    ("layers an object", enc(with_(oci_manifest(), layers={})), None, "layers"),
    ("layer bad digest", enc(bad_layer(1, digest="sha256:1234")), None, r"layers\[1\].digest"),
    ("layer negative size", enc(bad_layer(0, size=-5)), None, r"layers\[0\].size"),
    ("layer float size", enc(bad_layer(0, size=1e3)), None, r"layers\[0\].size"),
    ("layer no media type", enc(bad_layer(1, mediaType=...)), None, r"layers\[1\].mediaType"),
    ("layer a list", enc(with_(oci_manifest(), layers=[[]])), None, r"layers\[0\]"),
    ("annotations list", enc(with_(oci_manifest(), annotations=[])), None, "annotations"),
    (
        "annotation values numbers",
        enc(with_(oci_manifest(), annotations={"a": 1})),
        None,
        "annotations",
    ),
    ("subject bad", enc(with_(oci_manifest(), subject={"size": 1})), None, "subject"),
    ("artifactType bad", enc(with_(oci_manifest(), artifactType=1)), None, "artifactType"),
    ("manifests object", enc(with_(oci_index(), manifests={})), None, "manifests"),
    (
        "index entry bad platform",
        enc(
            with_(
                oci_index(),
                manifests=[{"mediaType": mt.OCI_MANIFEST, "digest": M1, "size": 1, "platform": []}],
            )
        ),
        None,
        r"manifests\[0\].platform",
    ),
]


@pytest.mark.parametrize(
    ("raw", "declared", "message"),
    [pytest.param(raw, declared, message, id=name) for name, raw, declared, message in HOSTILE],
)
def test_hostile(raw: bytes, declared: str | None, message: str) -> None:
    with pytest.raises(InvalidManifest, match=message) as info:
        parse_manifest(raw, declared)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    "declared", [mt.OCI_CONFIG, mt.DOCKER_LAYER, "application/vnd.example.thing+json"]
)
def test_unknown_declared_type_is_unsupported(declared: str) -> None:
    doc = with_(oci_manifest(), media_type=...)
    with pytest.raises(Unsupported):
        parse_manifest(enc(doc), declared)


def test_unknown_body_type_is_unsupported() -> None:
    with pytest.raises(Unsupported):
        parse_manifest(enc(with_(oci_manifest(), media_type="application/vnd.example+json")))


def test_raw_must_be_bytes() -> None:
    with pytest.raises(InvalidManifest):
        parse_manifest(json.dumps(oci_manifest()))  # type: ignore[arg-type]
