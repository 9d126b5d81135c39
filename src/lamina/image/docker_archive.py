"""``docker save`` archives: reading every generation of them, and writing docker 25+'s.

Reading follows ``manifest.json`` (``[{"Config", "RepoTags", "Layers"}]``), which every
generation has: docker before 25 (``<id>.json`` configs, ``<layer id>/layer.tar``), skopeo's
``docker-archive:`` (``<hex>.json``, ``<hex>.tar``) and docker 25+ (``blobs/sha256/<hex>``
beside an OCI layout). When the archive also holds an OCI layout with a manifest for exactly
that config and those layers, that manifest is used as is; otherwise a manifest is made for the
image (Docker v2 schema 2, with each layer's digest taken over its file as stored), which keeps
the image ID, the digest of the config's bytes, unchanged.

Writing produces docker 25+'s hybrid archive: an OCI layout (``oci-layout``, ``index.json`` with
one entry per tag annotated as docker annotates it, ``blobs/sha256/<hex>``) plus ``manifest.json``
and ``repositories`` for older readers. It is streamed: layers go from their source to the output
in chunks and are checked against their digests on the way. The output is deterministic.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

from lamina.errors import IntegrityError, InvalidArgument, InvalidManifest
from lamina.image.base import Image, LoadedImage
from lamina.image.compression import detect
from lamina.image.oci_layout import (
    IMAGE_NAME,
    REF_NAME,
    ArchiveImage,
    image_from_entries,
    read_document,
    root_index,
)
from lamina.image.spool import Spool, SpoolEntry
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest, Hasher
from lamina.model.document import MAX_MANIFEST_SIZE, dump
from lamina.model.manifest import Index, Manifest
from lamina.model.reference import Reference

MANIFEST_JSON: Final = "manifest.json"
_MAX_MANIFEST_JSON: Final = 16 * MAX_MANIFEST_SIZE
# Config files named after their digest, as docker and skopeo write them.
_DIGEST_NAME: Final = re.compile(
    r"(?:blobs/(sha256|sha512)/)?([a-f0-9]{64}|[a-f0-9]{128})(?:\.json)?"
)
_CHUNK: Final = 1 << 20

# Docker v2 types have no counterpart for every OCI type; these are the ones docker converts.
_TO_OCI: Final = {
    mt.DOCKER_CONFIG: mt.OCI_CONFIG,
    mt.DOCKER_LAYER: mt.OCI_LAYER_GZIP,
    mt.DOCKER_LAYER_UNCOMPRESSED: mt.OCI_LAYER,
    mt.DOCKER_LAYER_ZSTD: mt.OCI_LAYER_ZSTD,
    mt.DOCKER_FOREIGN_LAYER: mt.OCI_LAYER_NONDIST_GZIP,
}


@dataclass(frozen=True, slots=True)
class _Item:
    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


# --------------------------------------------------------------------------- reading


def read_docker_archive(spool: Spool) -> list[LoadedImage]:
    """Every image ``manifest.json`` lists, with its RepoTags as references."""
    items = _parse_manifest_json(spool.read(spool.entry(MANIFEST_JSON), _MAX_MANIFEST_JSON))
    known = _layout_manifests(spool) if spool.has("index.json") else {}
    out = []
    for n, item in enumerate(items):
        config = spool.entry(item.config)
        match = _DIGEST_NAME.fullmatch(item.config)
        if match:  # a name that is a digest is a promise; keep it
            spool.check(config, Digest.from_hex(match.group(2), match.group(1) or "sha256"))
        layers = [spool.entry(path) for path in item.layers]
        manifest = _matching(known.get(config.digest, ()), layers) or _synthesise(
            spool, config, layers
        )
        image: ArchiveImage = image_from_entries(spool, manifest, config, layers)
        tags = []
        for text in item.repo_tags:
            try:
                ref = Reference.parse(text).with_default_tag()
            except InvalidArgument as err:
                raise InvalidArgument(f"{MANIFEST_JSON}[{n}].RepoTags: {err}") from None
            if ref.tag is not None and ref not in tags:
                tags.append(ref)
        out.append(LoadedImage(image, tuple(tags)))
    return out


def _parse_manifest_json(raw: bytes) -> list[_Item]:
    def strict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise InvalidManifest(f"{MANIFEST_JSON}: duplicate key")
        return dict(pairs)

    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=strict)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InvalidManifest(f"{MANIFEST_JSON}: invalid JSON: {err}") from None
    if not isinstance(doc, list) or not doc:
        raise InvalidManifest(f"{MANIFEST_JSON}: expected a non-empty list of images")
    items = []
    for n, obj in enumerate(doc):
        where = f"{MANIFEST_JSON}[{n}]"
        if not isinstance(obj, dict):
            raise InvalidManifest(f"{where}: expected an object")
        config, tags, layers = obj.get("Config"), obj.get("RepoTags") or [], obj.get("Layers")
        if not isinstance(config, str) or not config:
            raise InvalidManifest(f"{where}.Config: expected a file name")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidManifest(f"{where}.RepoTags: expected a list of strings")
        if not isinstance(layers, list) or not all(isinstance(p, str) and p for p in layers):
            raise InvalidManifest(f"{where}.Layers: expected a list of file names")
        items.append(_Item(config, tuple(tags), tuple(layers)))
    return items


def _layout_manifests(spool: Spool) -> dict[Digest, list[Manifest]]:
    """The image manifests of the archive's OCI layout, by config digest."""
    out: dict[Digest, list[Manifest]] = {}
    pending = list(root_index(spool).index_manifest().manifests)
    seen: set[Digest] = set()
    while pending:
        desc = pending.pop()
        if desc.digest in seen or not (
            mt.is_manifest(desc.media_type) or mt.is_index(desc.media_type)
        ):
            continue
        seen.add(desc.digest)
        if len(seen) > 10_000:
            raise InvalidArgument("archive is invalid: too many manifests")
        if not spool.has(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}"):
            # docker with the containerd store saves only the platforms it has of an index
            continue
        doc = read_document(spool, desc)
        if isinstance(doc, Index):
            pending.extend(doc.manifests)
        elif mt.is_config(doc.config.media_type):
            out.setdefault(doc.config.digest, []).append(doc)
    return out


def _matching(candidates: Sequence[Manifest], layers: Sequence[SpoolEntry]) -> Manifest | None:
    digests = [entry.digest for entry in layers]
    for manifest in candidates:
        if [d.digest for d in manifest.layers] == digests:
            return manifest
    return None


def _synthesise(spool: Spool, config: SpoolEntry, layers: Sequence[SpoolEntry]) -> Manifest:
    """A manifest for a config and layer files that came without one."""
    kinds = []
    for entry in layers:
        with spool.open(entry) as f:
            kinds.append(detect(f.read(6)))
    oci = "zstd" in kinds  # Docker v2 has no standard zstd layer type
    descs = [
        Descriptor(
            mt.layer_type(None if kind == "none" else kind, docker=not oci), e.digest, e.size
        )
        for kind, e in zip(kinds, layers, strict=True)
    ]
    config_desc = Descriptor(mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, config.digest, config.size)
    return Manifest.build(config_desc, descs, mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class _Blob:
    digest: Digest
    size: int
    data: bytes | None = None
    opener: Callable[[], BinaryIO] | None = None


def oci_manifest(image: Image) -> Manifest:
    """The image's manifest as an OCI manifest: itself if it is one, else converted as docker
    does (same config and layer blobs, OCI media types), so OCI tools such as umoci read it."""
    manifest = image.manifest()
    if manifest.media_type == mt.OCI_MANIFEST:
        return manifest

    def convert(desc: Descriptor) -> Descriptor:
        return Descriptor(
            _TO_OCI.get(desc.media_type, desc.media_type),
            desc.digest,
            desc.size,
            desc.urls,
            desc.annotations,
            desc.platform,
        )

    return Manifest.build(
        convert(manifest.config),
        [convert(layer) for layer in manifest.layers],
        mt.OCI_MANIFEST,
        manifest.annotations,
    )


def write_docker_archive(
    images: Sequence[tuple[Image, Sequence[Reference]]], out: BinaryIO
) -> None:
    """Write ``images``, each with the tags it is saved under, as docker 25+'s ``docker save``
    archive to ``out`` (which need not be seekable). IntegrityError if a blob does not match."""
    blobs: dict[str, _Blob] = {}
    index_entries: list[dict[str, Any]] = []
    manifest_json: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}

    def add(blob: _Blob) -> str:
        path = f"blobs/{blob.digest.algorithm}/{blob.digest.hex}"
        blobs.setdefault(path, blob)
        return path

    for manifest, image, tags in _grouped(images):
        raw_config = image.raw_config()
        if Digest.of(raw_config, manifest.config.digest.algorithm) != manifest.config.digest:
            raise IntegrityError(f"image {manifest.config.digest.short}: config does not match")
        config_path = add(_Blob(manifest.config.digest, len(raw_config), raw_config))
        add(_Blob(manifest.digest, len(manifest.raw), manifest.raw))
        layer_paths = []
        layer_sources: dict[str, Any] = {}
        config = image.config()
        for layer, desc in zip(image.layers(), manifest.layers, strict=True):
            if layer.digest != desc.digest:
                raise IntegrityError(f"layer {layer.digest} does not match manifest {desc.digest}")
            layer_paths.append(add(_Blob(layer.digest, layer.size, opener=layer.open_compressed)))
            if mt.is_foreign(desc.media_type):
                layer_sources[str(layer.diff_id)] = desc.to_json()
        platform = config.platform
        for ref in tags:
            annotations = {IMAGE_NAME: str(ref), REF_NAME: str(ref.tag)}
            index_entries.append(_descriptor(manifest, platform, annotations))
            if layer_paths:
                last = layer_paths[-1].rpartition("/")[2]
                repositories.setdefault(ref.familiar_name, {})[str(ref.tag)] = last
        if not tags:
            index_entries.append(_descriptor(manifest, platform, None))
        item: dict[str, Any] = {
            "Config": config_path,
            "RepoTags": [ref.familiar for ref in tags] or None,
            "Layers": layer_paths,
        }
        if layer_sources:
            item["LayerSources"] = layer_sources
        manifest_json.append(item)

    index = dump({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index_entries})
    files: dict[str, _Blob] = dict(blobs)
    files["index.json"] = _small(index)
    files[MANIFEST_JSON] = _small(dump(manifest_json) + b"\n")
    files["oci-layout"] = _small(b'{"imageLayoutVersion":"1.0.0"}')
    if repositories:
        files["repositories"] = _small(dump(repositories) + b"\n")
    _write_tar(files, out)


def _grouped(
    images: Sequence[tuple[Image, Sequence[Reference]]],
) -> list[tuple[Manifest, Image, list[Reference]]]:
    """One entry per distinct image, in first-seen order, with all its tags, as docker does.
    A reference with a digest names no tag and is dropped (docker drops it too)."""
    out: dict[Digest, tuple[Manifest, Image, list[Reference]]] = {}
    for image, refs in images:
        manifest = oci_manifest(image)
        _, _, tags = out.setdefault(manifest.digest, (manifest, image, []))
        for ref in refs:
            tagged = ref.with_default_tag()
            if tagged.digest is None and tagged not in tags:
                tags.append(tagged)
    return list(out.values())


def _descriptor(
    manifest: Manifest, platform: Any, annotations: dict[str, str] | None
) -> dict[str, Any]:
    return Descriptor(
        manifest.media_type, manifest.digest, len(manifest.raw), (), annotations, platform
    ).to_json()


def _small(data: bytes) -> _Blob:
    return _Blob(Digest.of(data), len(data), data)


def _write_tar(files: dict[str, _Blob], out: BinaryIO) -> None:
    dirs = sorted({p.rpartition("/")[0] for p in files if "/" in p} | {"blobs"})
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.copybufsize = _CHUNK  # type: ignore[attr-defined]  # layers are large; the default copies 16 KiB at a time
        for name in sorted([*dirs, *files], key=lambda n: n.split("/")):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid = 0, 0, 0
            if name not in files:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            blob = files[name]
            info.mode, info.size = 0o644, blob.size
            if blob.data is not None:
                tar.addfile(info, io.BytesIO(blob.data))
                continue
            assert blob.opener is not None
            with blob.opener() as src:
                checked = _Checked(src, blob.digest, blob.size)
                try:
                    tar.addfile(info, checked)
                except OSError as err:
                    if "unexpected end of data" not in str(err):
                        raise
                    raise IntegrityError(
                        f"blob {blob.digest}: shorter than {blob.size} bytes"
                    ) from None
                checked.finish()


class _Checked(io.RawIOBase):
    """Reads through, hashing; ``finish`` checks the digest and that nothing is left over."""

    def __init__(self, src: BinaryIO, digest: Digest, size: int) -> None:
        self._src, self._digest, self._size = src, digest, size
        self._hasher = Hasher(digest.algorithm)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._src.read(min(len(buffer), _CHUNK))
        self._hasher.update(data)
        buffer[: len(data)] = data
        return len(data)

    def finish(self) -> None:
        if self._src.read(1):
            raise IntegrityError(f"blob {self._digest}: longer than {self._size} bytes")
        self._hasher.verify(self._digest, self._size, what=f"blob {self._digest.short}")
