"""Images in a registry, seen through ``lamina.image.base``: resolve a reference to one image.

An index (or Docker manifest list) is resolved to the manifest for the wanted platform (the
host's unless told); when none matches, the error lists the platforms on offer. The config is
fetched and checked against its descriptor; layers are read lazily, each verified as it streams.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO, cast

from lamina.errors import IntegrityError, InvalidManifest, NotFound, Unsupported
from lamina.image.base import DescribedLayer
from lamina.image.streams import ChunkReader
from lamina.model import mediatype as mt
from lamina.model.config import ImageConfig
from lamina.model.digest import Digest, Hasher
from lamina.model.manifest import Index, Manifest
from lamina.model.platform import Platform
from lamina.remote.registry import FetchedManifest, Repository

MAX_CONFIG = 16 * 1024 * 1024
MAX_INDEX_DEPTH = 4


@dataclass(frozen=True)
class RemoteLayer(DescribedLayer):
    """A layer blob in a registry (implements ``lamina.image.base.Layer``)."""

    repository: Repository

    def chunks(self, offset: int = 0) -> Iterator[bytes]:
        return self.repository.blob_chunks(self.digest, self.size, offset,
                                           what=f"layer {self.digest.short}")

    def open_compressed(self) -> BinaryIO:
        """The blob's bytes; reading past the end raises IntegrityError if they are wrong."""
        what = f"{self.repository.transport.host}: layer {self.digest.short}"
        return cast(BinaryIO, ChunkReader(_verified(self.chunks(), self.digest, self.size, what)))


class RemoteImage:
    """One image of a registry (implements ``lamina.image.base.Image``).

    ``fetched`` is the image manifest; ``top`` what the reference named (the same, or the
    index the manifest was chosen from): its digest is the image's repo digest.
    """

    def __init__(self, repository: Repository, fetched: FetchedManifest,
                 top: FetchedManifest | None = None) -> None:
        if not isinstance(fetched.parsed, Manifest):
            raise InvalidManifest(f"{repository.transport.host}: expected an image manifest")
        self.repository = repository
        self.fetched = fetched
        self.top = top or fetched
        self._manifest = fetched.parsed
        host = repository.transport.host
        for layer in self._manifest.layers:
            if not mt.is_layer(layer.media_type):
                raise Unsupported(f"{host}: layer {layer.digest.short} has media type "
                                  f"{layer.media_type!r}, not a layer")

    def raw_manifest(self) -> bytes:
        return self.fetched.raw

    def manifest(self) -> Manifest:
        return self._manifest

    def digest(self) -> Digest:
        return self.fetched.digest

    @cached_property
    def _raw_config(self) -> bytes:
        desc = self._manifest.config
        if desc.size > MAX_CONFIG:
            raise IntegrityError(f"{self.repository.transport.host}: image config of "
                                 f"{desc.size} bytes is too large")
        return self.repository.read_blob(desc.digest, desc.size, what="image config")

    def raw_config(self) -> bytes:
        return self._raw_config

    @cached_property
    def _config(self) -> ImageConfig:
        try:
            return ImageConfig.parse(self._raw_config)
        except InvalidManifest as err:
            raise err.reworded(f"{self.repository.transport.host}: image config: {err}") \
                from err

    def config(self) -> ImageConfig:
        return self._config

    def layers(self) -> Sequence[RemoteLayer]:
        layers = self._manifest.layers
        diff_ids = self._config.diff_ids
        if len(layers) != len(diff_ids):
            raise InvalidManifest(
                f"{self.repository.transport.host}: manifest has {len(layers)} layers but "
                f"the config names {len(diff_ids)} diff_ids")
        return [RemoteLayer(d, diff, self.repository) for d, diff in zip(layers, diff_ids,
                                                                          strict=True)]


def resolve(repository: Repository, reference: str, platform: Platform | None,
            *, reference_label: str) -> RemoteImage:
    """The image ``reference`` (a tag or digest) names, for ``platform`` (the host's if None).

    A platform given explicitly must match a single-platform image's config too, as docker
    checks it.
    """
    top = repository.manifest(reference, what=f"manifest for {reference_label}")
    fetched = top
    wanted = platform or Platform.host()
    for _ in range(MAX_INDEX_DEPTH):
        if not isinstance(fetched.parsed, Index):
            break
        fetched = _choose(repository, fetched.parsed, wanted)
    else:
        raise InvalidManifest(f"{repository.transport.host}: indexes nested too deep")
    if not isinstance(fetched.parsed, Manifest):
        raise InvalidManifest(f"{repository.transport.host}: indexes nested too deep")
    image = RemoteImage(repository, fetched, top)
    if platform is not None and top is fetched:
        config = image.config()
        actual = Platform(config.os or "linux", config.architecture or "amd64", config.variant)
        if not platform.matches(actual):
            raise NotFound(f"image with reference {reference_label} was found but does not "
                           f"match the specified platform: wanted {platform}, actual: {actual}")
    return image


def _choose(repository: Repository, index: Index, wanted: Platform) -> FetchedManifest:
    matches = index.for_platform(wanted)
    if not matches:
        offered = sorted({str(d.platform) for d in index.manifests
                          if d.platform is not None and d.platform.os != "unknown"})
        listing = ", ".join(offered) if offered else "none"
        raise NotFound(f"no matching manifest for {wanted} in the manifest list entries "
                       f"(platforms on offer: {listing})")
    desc = matches[0]
    if not (mt.is_manifest(desc.media_type) or mt.is_index(desc.media_type)):
        raise Unsupported(f"{repository.transport.host}: manifest {desc.digest.short} has "
                          f"media type {desc.media_type!r}")
    fetched = repository.manifest(str(desc.digest), what=f"manifest {desc.digest.short}")
    if len(fetched.raw) != desc.size:
        raise IntegrityError(f"{repository.transport.host}: manifest {desc.digest.short} has "
                             f"{len(fetched.raw)} bytes, its descriptor says {desc.size}")
    return fetched


def _verified(chunks: Iterator[bytes], digest: Digest, size: int, what: str
              ) -> Iterator[bytes]:
    """The chunks as they come, then a check of their digest and size once they end."""
    hasher = Hasher(digest.algorithm)
    for chunk in chunks:
        hasher.update(chunk)
        yield chunk
    hasher.verify(digest, size, what=what)
