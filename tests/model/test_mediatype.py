"""Media types and descriptors."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidManifest, Unsupported
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.platform import Platform

D = Digest.of(b"x")


def test_classification() -> None:
    assert mt.is_manifest(mt.OCI_MANIFEST) and mt.is_manifest(mt.DOCKER_MANIFEST)
    assert mt.is_index(mt.OCI_INDEX) and mt.is_index(mt.DOCKER_MANIFEST_LIST)
    assert not mt.is_manifest(mt.OCI_INDEX) and not mt.is_index(mt.OCI_MANIFEST)
    assert mt.is_manifest(mt.OCI_MANIFEST + "; charset=utf-8")
    assert not mt.is_manifest(None) and not mt.is_layer(None)
    for layer in (
        mt.OCI_LAYER,
        mt.OCI_LAYER_GZIP,
        mt.OCI_LAYER_ZSTD,
        mt.OCI_LAYER_NONDIST,
        mt.OCI_LAYER_NONDIST_GZIP,
        mt.OCI_LAYER_NONDIST_ZSTD,
        mt.DOCKER_LAYER,
        mt.DOCKER_FOREIGN_LAYER,
    ):
        assert mt.is_layer(layer), layer
        assert layer in mt.LAYER_TYPES
    assert not mt.is_layer(mt.OCI_CONFIG)
    assert mt.is_config(mt.DOCKER_CONFIG) and mt.is_config(mt.OCI_CONFIG)
    assert mt.is_foreign(mt.DOCKER_FOREIGN_LAYER) and not mt.is_foreign(mt.DOCKER_LAYER)
    assert mt.is_schema1(mt.DOCKER_MANIFEST_V1_SIGNED)
    assert mt.is_docker(mt.DOCKER_MANIFEST) and not mt.is_docker(mt.OCI_MANIFEST)
    assert mt.DOCKER_LAYER == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert mt.OCI_EMPTY == "application/vnd.oci.empty.v1+json"


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        (mt.OCI_LAYER, None),
        (mt.OCI_LAYER_GZIP, "gzip"),
        (mt.OCI_LAYER_ZSTD, "zstd"),
        (mt.OCI_LAYER_NONDIST, None),
        (mt.OCI_LAYER_NONDIST_GZIP, "gzip"),
        (mt.OCI_LAYER_NONDIST_ZSTD, "zstd"),
        (mt.DOCKER_LAYER, "gzip"),
        (mt.DOCKER_FOREIGN_LAYER, "gzip"),
        (mt.DOCKER_LAYER_UNCOMPRESSED, None),
        ("application/vnd.example.thing+gzip", "gzip"),
        ("application/octet-stream", None),
    ],
)
def test_compression(media_type: str, expected: str | None) -> None:
    assert mt.compression(media_type) == expected


def test_layer_type() -> None:
    assert mt.layer_type("gzip") == mt.OCI_LAYER_GZIP
    assert mt.layer_type(None) == mt.OCI_LAYER
    assert mt.layer_type("gzip", docker=True) == mt.DOCKER_LAYER
    with pytest.raises(Unsupported):
        mt.layer_type("bzip2")


def test_descriptor_round_trip_and_key_order() -> None:
    obj = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": str(D),
        "size": 7,
        "urls": ["https://example.com/x"],
        "annotations": {"a": "b"},
        "platform": {"architecture": "amd64", "os": "linux"},
        "artifactType": "application/vnd.example",
    }
    desc = Descriptor.from_json(obj)
    assert desc.digest == D and isinstance(desc.digest, Digest)
    assert desc.platform == Platform("linux", "amd64")
    assert desc.to_json() == obj
    assert list(desc.to_json())[:3] == ["mediaType", "digest", "size"]
    assert Descriptor(mt.OCI_LAYER, D, 0).to_json() == {
        "mediaType": mt.OCI_LAYER,
        "digest": str(D),
        "size": 0,
    }


def test_descriptor_is_hashable_with_annotations() -> None:
    a = Descriptor(mt.OCI_LAYER, D, 1, annotations={"k": "v"})
    assert a == Descriptor(mt.OCI_LAYER, D, 1, annotations={"k": "v"})
    assert a != Descriptor(mt.OCI_LAYER, D, 1)
    assert len({a, Descriptor(mt.OCI_LAYER, D, 1), a}) == 2


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ([], "descriptor"),
        ({"digest": str(D), "size": 1}, "mediaType"),
        ({"mediaType": 1, "digest": str(D), "size": 1}, "mediaType"),
        ({"mediaType": "nonsense", "digest": str(D), "size": 1}, "mediaType"),
        ({"mediaType": "a/b\nc", "digest": str(D), "size": 1}, "mediaType"),
        ({"mediaType": mt.OCI_LAYER, "size": 1}, "digest"),
        ({"mediaType": mt.OCI_LAYER, "digest": 5, "size": 1}, "digest"),
        ({"mediaType": mt.OCI_LAYER, "digest": "sha256:abc", "size": 1}, "digest"),
        ({"mediaType": mt.OCI_LAYER, "digest": "md5:" + "a" * 32, "size": 1}, "digest"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D).upper(), "size": 1}, "digest"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D)}, "size"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": -1}, "size"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1.5}, "size"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": "1"}, "size"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": True}, "size"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1 << 60}, "size"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1, "urls": "x"}, "urls"),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1, "urls": [1]}, "urls"),
        (
            {"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1, "annotations": []},
            "annotations",
        ),
        (
            {"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1, "annotations": {"a": 1}},
            "annotations",
        ),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1, "platform": "x"}, "platform"),
        (
            {"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1, "artifactType": 3},
            "artifactType",
        ),
        ({"mediaType": mt.OCI_LAYER, "digest": str(D), "size": 1, "data": 3}, "data"),
    ],
)
def test_descriptor_hostile(obj: object, field: str) -> None:
    with pytest.raises(InvalidManifest, match=field):
        Descriptor.from_json(obj, where="descriptor")
