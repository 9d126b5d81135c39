"""Images in an OCI image layout read from an archive: ``oci-layout``, ``index.json``, ``blobs/``.

Covers plain OCI layout archives (skopeo's ``oci-archive:``, ``tar -C layout .``), the OCI half
of docker 25+'s ``docker save``, and nested indexes. Every manifest, config and layer is found by
digest under ``blobs/<alg>/<hex>``, and is checked against that digest and its descriptor's size
before anything is returned, so a caller commits nothing from an archive that is not whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final

from lamina.errors import InvalidArgument, InvalidManifest, InvalidReference, NotFound, Unsupported
from lamina.image.base import DescribedLayer, LoadedImage
from lamina.image.spool import Spool, SpoolEntry
from lamina.model import mediatype as mt
from lamina.model.config import ImageConfig
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.document import MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, load_object
from lamina.model.manifest import Index, Manifest, parse_manifest
from lamina.model.platform import Platform
from lamina.model.reference import Reference

#: The annotation docker and containerd give an index entry: the full image name.
IMAGE_NAME: Final = "io.containerd.image.name"
#: The OCI annotation naming an index entry: a tag, or a full reference.
REF_NAME: Final = "org.opencontainers.image.ref.name"
_MAX_DEPTH: Final = 8


@dataclass(frozen=True)
class ArchiveLayer(DescribedLayer):
    """A layer whose blob is an archive entry, already checked against ``digest`` and ``size``."""

    _spool: Spool
    _entry: SpoolEntry

    def open_compressed(self) -> BinaryIO:
        return self._spool.open(self._entry)


@dataclass(frozen=True, slots=True)
class ArchiveImage:
    """An image read from an archive; every blob it names has been found and verified."""

    _manifest: Manifest
    _config: ImageConfig
    _layers: tuple[ArchiveLayer, ...]

    def raw_manifest(self) -> bytes:
        return self._manifest.raw

    def manifest(self) -> Manifest:
        return self._manifest

    def raw_config(self) -> bytes:
        return self._config.raw

    def config(self) -> ImageConfig:
        return self._config

    def digest(self) -> Digest:
        return self._manifest.digest

    def layers(self) -> Sequence[ArchiveLayer]:
        return self._layers


def image_from_entries(
    spool: Spool, manifest: Manifest, config: SpoolEntry, layers: Sequence[SpoolEntry]
) -> ArchiveImage:
    """An ArchiveImage of ``manifest`` whose config and layer blobs are the given entries,
    each checked against its descriptor."""
    spool.check(config, manifest.config.digest, manifest.config.size)
    image_config = ImageConfig.parse(spool.read(config, MAX_CONFIG_SIZE))
    if len(layers) != len(manifest.layers):
        raise InvalidManifest(
            f"manifest {manifest.digest} lists {len(manifest.layers)} layers, "
            f"the archive gives {len(layers)}"
        )
    if len(manifest.layers) != len(image_config.diff_ids):
        raise InvalidManifest(
            f"image {image_config.id.short}: manifest has {len(manifest.layers)} layers "
            f"but the config has {len(image_config.diff_ids)} diff_ids"
        )
    out = []
    for desc, entry, diff_id in zip(manifest.layers, layers, image_config.diff_ids, strict=True):
        if not mt.is_layer(desc.media_type):
            raise Unsupported(
                f"image {image_config.id.short}: unsupported layer type {desc.media_type}"
            )
        spool.check(entry, desc.digest, desc.size)
        out.append(ArchiveLayer(desc, diff_id, spool, entry))
    return ArchiveImage(manifest, image_config, tuple(out))


def layout_image(spool: Spool, manifest: Manifest) -> ArchiveImage:
    """The image of ``manifest`` with every blob taken from ``blobs/``."""
    config = spool.blob(manifest.config.digest, manifest.config.size)
    layers = [_layer_blob(spool, desc) for desc in manifest.layers]
    return image_from_entries(spool, manifest, config, layers)


def _layer_blob(spool: Spool, desc: Descriptor) -> SpoolEntry:
    if mt.is_foreign(desc.media_type) and not spool.has(
        f"blobs/{desc.digest.algorithm}/{desc.digest.hex}"
    ):
        raise Unsupported(f"foreign layer {desc.digest} is not in the archive")
    return spool.blob(desc.digest, desc.size)


def read_document(spool: Spool, desc: Descriptor) -> Manifest | Index:
    """The manifest or index ``desc`` points at, checked against its digest and size."""
    entry = spool.blob(desc.digest, desc.size)
    return parse_manifest(spool.read(entry, MAX_MANIFEST_SIZE), desc.media_type)


@dataclass(frozen=True, slots=True)
class LayoutIndex:
    """An index inside an archive (``index.json`` or a nested one), implementing ``base.Index``."""

    _spool: Spool
    _index: Index

    def raw_manifest(self) -> bytes:
        return self._index.raw

    def index_manifest(self) -> Index:
        return self._index

    def digest(self) -> Digest:
        return self._index.digest

    def _child(self, digest: Digest) -> Manifest | Index:
        for desc in self._index.manifests:
            if desc.digest == digest:
                return read_document(self._spool, desc)
        raise NotFound(f"index {self.digest().short} has no manifest {digest}")

    def image(self, digest: Digest) -> ArchiveImage:
        child = self._child(digest)
        if not isinstance(child, Manifest):
            raise InvalidArgument(f"{digest} is an index, not an image manifest")
        return layout_image(self._spool, child)

    def index(self, digest: Digest) -> LayoutIndex:
        child = self._child(digest)
        if not isinstance(child, Index):
            raise InvalidArgument(f"{digest} is an image manifest, not an index")
        return LayoutIndex(self._spool, child)


def root_index(spool: Spool) -> LayoutIndex:
    """The layout's ``index.json``, after checking ``oci-layout``."""
    if not spool.has("oci-layout"):
        raise InvalidArgument("archive is invalid: it has index.json but no oci-layout file")
    layout = load_object(spool.read(spool.entry("oci-layout"), 4096), "oci-layout")
    if not isinstance(layout.get("imageLayoutVersion"), str):
        raise InvalidArgument("archive is invalid: oci-layout has no imageLayoutVersion")
    raw = spool.read(spool.entry("index.json"), MAX_MANIFEST_SIZE)
    index = parse_manifest(raw, None)
    if not isinstance(index, Index):
        raise InvalidManifest("index.json: expected an image index, got an image manifest")
    return LayoutIndex(spool, index)


def names_of(annotations: Mapping[str, str] | None) -> tuple[Reference | None, str | None]:
    """The full reference and the bare ref name an index entry's annotations give it.

    containerd's ``io.containerd.image.name`` is a full name. The OCI ``ref.name`` may be a
    full reference (skopeo's ``oci-archive:file:busybox:latest``) or only a tag (``v1``)."""
    if not annotations:
        return None, None
    full = annotations.get(IMAGE_NAME)
    ref_name = annotations.get(REF_NAME)
    if full:
        ref = Reference.parse(full).with_default_tag()
        return (ref if ref.tag is not None else None), None
    if ref_name and ("/" in ref_name or ":" in ref_name):
        try:
            ref = Reference.parse(ref_name).with_default_tag()
        except InvalidReference:
            return None, ref_name
        return (ref if ref.tag is not None else None), None
    return None, ref_name or None


def read_oci_layout(spool: Spool, platform: Platform | None = None) -> list[LoadedImage]:
    """Every image ``index.json`` names (one per platform-resolved entry), with its names.

    An entry that is an index resolves to its manifest for ``platform`` (the host's by
    default). Entries naming the same manifest are merged; artifacts that are not images
    (their config is not an image config) are skipped."""
    want = platform or Platform.host()
    index = root_index(spool)
    found: dict[Digest, tuple[ArchiveImage, list[Reference], str | None, Descriptor]] = {}
    for desc in index.index_manifest().manifests:
        ref, ref_name = names_of(desc.annotations)
        picked = _resolve(spool, desc, want, 0)
        if picked is None:
            continue
        manifest_desc, manifest = picked
        if manifest.digest not in found:
            found[manifest.digest] = (layout_image(spool, manifest), [], None, manifest_desc)
        image, tags, bare, first = found[manifest.digest]
        if ref is not None and ref not in tags:
            tags.append(ref)
        found[manifest.digest] = (image, tags, bare or ref_name, first)
    if not found:
        raise InvalidArgument("archive holds no image")
    return [
        LoadedImage(image, tuple(tags), None if tags else bare, desc.platform, desc)
        for image, tags, bare, desc in found.values()
    ]


def _resolve(
    spool: Spool, desc: Descriptor, want: Platform, depth: int
) -> tuple[Descriptor, Manifest] | None:
    if depth > _MAX_DEPTH:
        raise InvalidArgument("archive is invalid: indexes nested too deeply")
    if not (mt.is_manifest(desc.media_type) or mt.is_index(desc.media_type)):
        return None  # an artifact or a layer listed in the index: not an image
    doc = read_document(spool, desc)
    if isinstance(doc, Manifest):
        if not mt.is_config(doc.config.media_type):
            return None
        return desc, doc
    candidates = doc.for_platform(want)
    if not candidates:
        if len(doc.manifests) == 1 and doc.manifests[0].platform is None:
            candidates = [doc.manifests[0]]
        else:
            have = ", ".join(sorted({str(d.platform) for d in doc.manifests if d.platform}))
            raise NotFound(
                f"index {doc.digest.short} has no image for platform {want}"
                + (f" (it has {have})" if have else "")
            )
    return _resolve(spool, candidates[0], want, depth + 1)
