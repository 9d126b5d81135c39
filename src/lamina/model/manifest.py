"""Image manifests and indexes (OCI, and Docker v2 schema 2 manifests and manifest lists).

A parsed manifest keeps the exact bytes it was read from: its digest is always taken over them,
and it is never re-serialised. ``build`` is the one place a manifest is serialised, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import InvalidManifest, Unsupported
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor, parse_annotations, valid_media_type
from lamina.model.digest import Digest
from lamina.model.document import dump, load_object
from lamina.model.platform import Platform

# Content-Types that say nothing about which kind of manifest a body is.
_VAGUE_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})

SCHEMA1_MESSAGE = (
    "Docker Image Manifest Version 2, Schema 1 is not supported: "
    "the image must be pushed again with a newer docker (schema 2) or as OCI"
)


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest: one config and an ordered list of layers."""

    raw: bytes = field(repr=False)
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    artifact_type: str | None = None

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        """A descriptor pointing at this manifest (for an index or a tag)."""
        return Descriptor(self.media_type, self.digest, len(self.raw), platform=platform)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        parsed = parse_manifest(raw, media_type)
        if not isinstance(parsed, Manifest):
            raise InvalidManifest(f"expected an image manifest, got an index ({parsed.media_type})")
        return parsed

    @classmethod
    def build(
        cls,
        config: Descriptor,
        layers: Sequence[Descriptor],
        media_type: str = mt.OCI_MANIFEST,
        annotations: Mapping[str, str] | None = None,
        *,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
    ) -> Manifest:
        if media_type not in mt.MANIFEST_TYPES:
            raise Unsupported(f"cannot build a manifest of type {media_type!r}")
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type is not None:
            doc["artifactType"] = artifact_type
        doc["config"] = config.to_json()
        doc["layers"] = [layer.to_json() for layer in layers]
        if subject is not None:
            doc["subject"] = subject.to_json()
        if annotations:
            doc["annotations"] = dict(annotations)
        return cls(
            dump(doc),
            media_type,
            config,
            tuple(layers),
            subject,
            dict(annotations) if annotations else None,
            artifact_type,
        )


@dataclass(frozen=True, slots=True)
class Index:
    """An index (OCI image index or Docker manifest list): manifests, usually one per platform."""

    raw: bytes = field(repr=False)
    media_type: str
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    artifact_type: str | None = None

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @property
    def size(self) -> int:
        return len(self.raw)

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))

    def for_platform(self, platform: Platform) -> list[Descriptor]:
        """The image manifests (not attestations) whose platform matches, in index order."""
        return [
            d
            for d in self.manifests
            if d.platform is not None
            and platform.matches(d.platform)
            and d.platform.os != "unknown"
        ]

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Index:
        parsed = parse_manifest(raw, media_type)
        if not isinstance(parsed, Index):
            raise InvalidManifest(f"expected an index, got an image manifest ({parsed.media_type})")
        return parsed

    @classmethod
    def build(
        cls,
        manifests: Sequence[Descriptor],
        media_type: str = mt.OCI_INDEX,
        annotations: Mapping[str, str] | None = None,
        *,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
    ) -> Index:
        if media_type not in mt.INDEX_TYPES:
            raise Unsupported(f"cannot build an index of type {media_type!r}")
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type is not None:
            doc["artifactType"] = artifact_type
        doc["manifests"] = [m.to_json() for m in manifests]
        if subject is not None:
            doc["subject"] = subject.to_json()
        if annotations:
            doc["annotations"] = dict(annotations)
        return cls(
            dump(doc),
            media_type,
            tuple(manifests),
            subject,
            dict(annotations) if annotations else None,
            artifact_type,
        )


def parse_manifest(raw: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse a manifest or an index from the exact bytes received.

    ``media_type`` is what the source declared (a Content-Type or a descriptor's type). When it
    is None or vague, the body's ``mediaType`` decides, else the body's shape. Contradictions
    between the two, or within the body, are InvalidManifest; schema 1 is Unsupported.
    """
    declared = mt.base(media_type) if media_type is not None else None
    if declared in _VAGUE_TYPES:
        declared = None
    if mt.is_schema1(declared):
        raise Unsupported(SCHEMA1_MESSAGE)
    doc = load_object(raw, "manifest")
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise InvalidManifest("manifest.mediaType: expected a string")
    version = doc.get("schemaVersion")
    # Exactly the JSON integer: in Python True == 1 and 2.0 == 2.
    is_int = type(version) is int
    if (is_int and version == 1) or mt.is_schema1(body_type) or "fsLayers" in doc:
        raise Unsupported(SCHEMA1_MESSAGE)
    if not is_int or version != 2:
        raise InvalidManifest(f"manifest.schemaVersion: expected 2, got {version!r}")
    if "layers" in doc and "manifests" in doc:
        raise InvalidManifest("manifest has both 'layers' and 'manifests'")
    if declared is not None and body_type is not None and mt.base(body_type) != declared:
        raise InvalidManifest(
            f"manifest mediaType {body_type!r} does not match the declared type {declared!r}"
        )
    kind = declared or (mt.base(body_type) if body_type else None) or _infer(doc)
    if mt.is_manifest(kind):
        return _parse_image_manifest(bytes(raw), kind, doc)
    if mt.is_index(kind):
        return _parse_index(bytes(raw), kind, doc)
    raise Unsupported(f"unsupported manifest media type {kind!r}")


def _infer(doc: Mapping[str, Any]) -> str:
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "layers" in doc or "config" in doc:
        return mt.OCI_MANIFEST
    raise InvalidManifest("manifest has neither 'layers' nor 'manifests' and no mediaType")


def _common(
    doc: Mapping[str, Any],
) -> tuple[Descriptor | None, Mapping[str, str] | None, str | None]:
    subject = None
    if doc.get("subject") is not None:
        subject = Descriptor.from_json(doc["subject"], where="manifest.subject")
    annotations = parse_annotations(doc.get("annotations"), "manifest.annotations")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and (
        not isinstance(artifact_type, str) or not valid_media_type(artifact_type)
    ):
        raise InvalidManifest("manifest.artifactType: expected a media type")
    return subject, annotations, artifact_type


def _parse_image_manifest(raw: bytes, kind: str, doc: Mapping[str, Any]) -> Manifest:
    if "manifests" in doc:
        raise InvalidManifest(f"manifest of type {kind} has 'manifests', as an index would")
    if "config" not in doc:
        raise InvalidManifest("manifest.config: missing")
    config = Descriptor.from_json(doc["config"], where="manifest.config")
    layers_obj = doc.get("layers")
    if not isinstance(layers_obj, list):
        raise InvalidManifest("manifest.layers: expected a list")
    layers = tuple(
        Descriptor.from_json(item, where=f"manifest.layers[{i}]")
        for i, item in enumerate(layers_obj)
    )
    subject, annotations, artifact_type = _common(doc)
    return Manifest(raw, kind, config, layers, subject, annotations, artifact_type)


def _parse_index(raw: bytes, kind: str, doc: Mapping[str, Any]) -> Index:
    for key in ("layers", "config"):
        if key in doc:
            raise InvalidManifest(f"index of type {kind} has {key!r}, as an image manifest would")
    manifests_obj = doc.get("manifests")
    if not isinstance(manifests_obj, list):
        raise InvalidManifest("index.manifests: expected a list")
    manifests = tuple(
        Descriptor.from_json(item, where=f"index.manifests[{i}]")
        for i, item in enumerate(manifests_obj)
    )
    subject, annotations, artifact_type = _common(doc)
    return Index(raw, kind, manifests, subject, annotations, artifact_type)
