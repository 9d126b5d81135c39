"""What the store's metadata says about images and layers: plain records, built from rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lamina.model.digest import Digest
from lamina.model.reference import Reference


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """One layer of an image: its unpacked snapshot (``chain_id``) and its compressed blob."""

    diff_id: Digest
    chain_id: Digest
    digest: Digest  # the compressed blob the image's manifest names
    media_type: str
    size: int  # of the compressed blob
    unpacked_size: int  # on disk, as docker counts a layer's size


@dataclass(slots=True)
class ImageRecord:
    """An image as the store knows it. ``tags`` and ``repo_digests`` are sorted as docker does."""

    id: Digest
    created: str | None
    size: int
    manifest_digest: Digest
    parent: Digest | None
    added: float
    tags: list[Reference] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)  # familiar: "nginx@sha256:..."
    layers: list[LayerRecord] = field(default_factory=list)
    manifest_media_type: str = ""
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id.short

    @property
    def is_tagged(self) -> bool:
        return bool(self.tags)


def split_repository(repository: str) -> tuple[str, str]:
    """``docker.io/library/nginx`` -> (``docker.io``, ``library/nginx``); stored names are
    normalised, so the first component is always the domain."""
    domain, _, path = repository.partition("/")
    return domain, path


def tag_reference(repository: str, tag: str) -> Reference:
    domain, path = split_repository(repository)
    return Reference(domain, path, tag, None)


def digest_reference(repository: str, digest: str) -> Reference:
    domain, path = split_repository(repository)
    return Reference(domain, path, None, Digest(digest))
