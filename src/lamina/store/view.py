"""The store's images seen through ``lamina.image.base``'s Image protocol, so whatever reads
images (``save``, ``push``) reads them from the store as from any other source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

from lamina.errors import IntegrityError
from lamina.model.config import ImageConfig
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest, parse_manifest
from lamina.store.blobs import BlobStore
from lamina.store.records import ImageRecord, LayerRecord


@dataclass(frozen=True)
class StoreLayer:
    blobs: BlobStore
    record: LayerRecord

    @property
    def digest(self) -> Digest:
        return self.record.digest

    @property
    def diff_id(self) -> Digest:
        return self.record.diff_id

    @property
    def size(self) -> int:
        return self.record.size

    @property
    def media_type(self) -> str:
        return self.record.media_type

    def open_compressed(self) -> BinaryIO:
        return self.blobs.open(self.record.digest)

    def open_uncompressed(self) -> BinaryIO:
        from lamina.image.compression import open_decompressed

        return open_decompressed(self.open_compressed(), self.record.media_type)  # type: ignore[return-value]


class StoreImage:
    """An image of the store: its manifest, config and layer blobs as stored, byte for byte."""

    def __init__(self, blobs: BlobStore, record: ImageRecord) -> None:
        self._blobs = blobs
        self.record = record

    def raw_manifest(self) -> bytes:
        return self._blobs.read(self.record.manifest_digest)

    @cached_property
    def _manifest(self) -> Manifest:
        parsed = parse_manifest(self.raw_manifest(), self.record.manifest_media_type or None)
        if not isinstance(parsed, Manifest):
            raise IntegrityError(f"image {self.record.id.short}: stored manifest is an index")
        return parsed

    def manifest(self) -> Manifest:
        return self._manifest

    def raw_config(self) -> bytes:
        return self._blobs.read(self.record.id)

    def config(self) -> ImageConfig:
        return ImageConfig.parse(self.raw_config())

    def digest(self) -> Digest:
        return self.record.manifest_digest

    def layers(self) -> Sequence[StoreLayer]:
        return [StoreLayer(self._blobs, layer) for layer in self.record.layers]
