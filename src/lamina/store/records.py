"""What the store's metadata says about images and layers: plain records, built from rows."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from lamina.model.digest import Digest
from lamina.model.reference import Reference


class LayerRecord(NamedTuple):
    """One layer of an image: its unpacked snapshot (``chain_id``) and its compressed blob."""

    diff_id: Digest
    chain_id: Digest
    digest: Digest  # the compressed blob the image's manifest names
    media_type: str
    size: int  # of the compressed blob
    unpacked_size: int  # on disk, as docker counts a layer's size


class ImageRecord(NamedTuple):
    """An image as the store knows it. ``tags`` and ``repo_digests`` are sorted as docker does."""

    id: Digest
    created: str | None
    size: int
    manifest_digest: Digest
    parent: Digest | None
    added: float
    tags: list[Reference]  # filled in, then sorted, by the catalog that makes the record
    repo_digests: list[str]  # familiar: "nginx@sha256:..."
    layers: list[LayerRecord]
    manifest_media_type: str = ""
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    labels: Mapping[str, Any] = MappingProxyType({})

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
