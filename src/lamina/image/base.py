"""Read-only views of images, whatever holds them: an archive, an OCI layout, the store, a registry.

Modelled on go-containerregistry's ``pkg/v1``: small interfaces, each source implements them,
and raw bytes are kept beside parsed objects, so a digest is always taken over the bytes that
were received and nothing read from outside is re-serialised.

These are ``typing.Protocol`` classes: a source satisfies them by shape, without inheriting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable

from lamina.model.config import ImageConfig
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Index as IndexManifest
from lamina.model.manifest import Manifest
from lamina.model.platform import Platform
from lamina.model.reference import Reference


@runtime_checkable
class Layer(Protocol):
    """One layer of an image: a (usually compressed) tar blob and the digest of its tar."""

    @property
    def digest(self) -> Digest:
        """The digest of the blob as stored and transferred (compressed, if it is)."""
        ...

    @property
    def diff_id(self) -> Digest:
        """The digest of the uncompressed tar, as the image config's ``rootfs.diff_ids`` says.

        Claimed, not verified here: whoever decompresses the layer checks it."""
        ...

    @property
    def size(self) -> int:
        """The size in bytes of the blob as stored (compressed)."""
        ...

    @property
    def media_type(self) -> str: ...

    def open_compressed(self) -> BinaryIO:
        """The blob's bytes exactly as stored; the caller closes it."""
        ...

    def open_uncompressed(self) -> BinaryIO:
        """The layer's tar stream, decompressed; the caller closes it and checks ``diff_id``."""
        ...


@dataclass(frozen=True)
class DescribedLayer:
    """A layer as a manifest describes it, with the config's ``diff_id``: the part every
    source shares. A source adds where the bytes are, by defining ``open_compressed``."""

    descriptor: Descriptor
    diff_id: Digest

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type

    def open_compressed(self) -> BinaryIO:
        raise NotImplementedError

    def open_uncompressed(self, max_size: int | None = None) -> BinaryIO:
        from lamina.image.compression import open_decompressed

        return open_decompressed(self.open_compressed(), self.media_type, max_size)  # type: ignore[return-value]


@runtime_checkable
class Image(Protocol):
    """An image: a manifest, its config and its layers, in order."""

    def raw_manifest(self) -> bytes: ...

    def manifest(self) -> Manifest: ...

    def raw_config(self) -> bytes: ...

    def config(self) -> ImageConfig: ...

    def digest(self) -> Digest:
        """The manifest's digest (sha256 of ``raw_manifest()``)."""
        ...

    def layers(self) -> Sequence[Layer]: ...


@runtime_checkable
class Index(Protocol):
    """An image index (or Docker manifest list): manifests, usually one per platform."""

    def raw_manifest(self) -> bytes: ...

    def index_manifest(self) -> IndexManifest: ...

    def digest(self) -> Digest: ...

    def image(self, digest: Digest) -> Image:
        """The image whose manifest has ``digest`` (NotFound if the index does not hold it)."""
        ...

    def index(self, digest: Digest) -> Index:
        """The nested index with ``digest`` (NotFound if the index does not hold it)."""
        ...


@dataclass(frozen=True)
class LoadedImage:
    """An image read from an archive, with the names it carried there.

    ``tags`` are full references (``docker.io/library/busybox:latest``). ``ref_name`` is an
    OCI layout's ``org.opencontainers.image.ref.name`` annotation as written, when it named
    only a tag (``v1``) and no repository; the caller decides what to call such an image.
    ``platform`` is the platform the index entry declared, when the image came from one.
    """

    image: Image
    tags: tuple[Reference, ...] = ()
    ref_name: str | None = None
    platform: Platform | None = None
    descriptor: Descriptor | None = field(default=None, compare=False)

    @property
    def id(self) -> Digest:
        """The image ID: the digest of the config's exact bytes."""
        return self.image.config().id
