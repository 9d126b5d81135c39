"""Test images built from scratch: layers, configs, manifests, indexes, OCI layouts, archives.

Shared by every test of the project (store, registry, image, engine). Pure stdlib plus
``zstandard``; it imports nothing from lamina, so a bug in lamina cannot hide in its fixtures.
Everything is deterministic: the same arguments always give the same bytes and digests.

Import it as ``from helpers.images import make_layer, make_image, ...`` (``tests`` is on the
pytest ``pythonpath``).

Quick tour::

    layer = make_layer({"etc/hello": b"hi\\n", "bin": Dir(), "bin/sh": Symlink("/bin/busybox")})
    img = make_image([layer, {"tmp/x": b"x"}], {"config": {"Cmd": ["/bin/sh"]}})
    manifest, config, blobs = img               # a BuiltImage is a 3-tuple ...
    img.manifest_digest, img.config_digest       # ... with a few derived properties
    write_oci_layout(tmp_path / "layout", [(img, "v1")])
    archive = make_docker_legacy_archive([(img, ["example.com/a:v1"])])
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MediaTypes = Literal["oci", "docker"]
Compression = Literal["gzip", "zstd", "none"]

#: The fixed modification time of every tar entry and gzip header (2024-01-01T00:00:00Z).
EPOCH = 1704067200
CREATED = "2024-01-01T00:00:00Z"


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class Entry:
    """One tar entry of any type, for what plain ``bytes`` (a regular file) cannot say.

    ``kind`` is one of file, dir, symlink, hardlink, fifo, char, block. ``pax`` adds PAX
    header records (for xattrs: ``{"SCHILY.xattr.user.k": "v"}``). ``size`` overrides the
    size written in the header (to build a lying header; the data is still ``data``).
    """

    kind: str = "file"
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    linkname: str = ""
    mtime: int = EPOCH
    devmajor: int = 0
    devminor: int = 0
    pax: Mapping[str, str] = field(default_factory=dict)


def File(data: bytes | str = b"", mode: int = 0o644, **kw: Any) -> Entry:
    return Entry("file", data.encode() if isinstance(data, str) else data, mode, **kw)


def Dir(mode: int = 0o755, **kw: Any) -> Entry:
    return Entry("dir", b"", mode, **kw)


def Symlink(target: str, **kw: Any) -> Entry:
    return Entry("symlink", b"", 0o777, linkname=target, **kw)


def Hardlink(target: str, **kw: Any) -> Entry:
    return Entry("hardlink", b"", 0o644, linkname=target, **kw)


def Fifo(mode: int = 0o644, **kw: Any) -> Entry:
    return Entry("fifo", b"", mode, **kw)


def Device(kind: Literal["char", "block"], major: int, minor: int, mode: int = 0o600) -> Entry:
    return Entry(kind, b"", mode, devmajor=major, devminor=minor)


def Whiteout(path: str) -> tuple[str, Entry]:
    """The entry that deletes ``path`` from lower layers (``dir/.wh.name``)."""
    head, _, name = path.rstrip("/").rpartition("/")
    return (f"{head}/.wh.{name}" if head else f".wh.{name}", File(b""))


def OpaqueWhiteout(directory: str) -> tuple[str, Entry]:
    """The entry that hides everything below ``directory`` in lower layers."""
    return (f"{directory.rstrip('/')}/.wh..wh..opq", File(b""))


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
}
_DEFAULT_MODES = {"file": 0o644, "dir": 0o755, "symlink": 0o777, "hardlink": 0o644}

FileSpec = bytes | str | Entry
Files = Mapping[str, FileSpec] | Iterable[tuple[str, FileSpec]]


def make_layer(files: Files, *, format: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed layer tar holding ``files`` in the order given.

    ``files`` maps a path (kept exactly as given, so ``../x`` or ``/etc/x`` build hostile
    layers) to ``bytes`` or ``str`` (a regular file, mode 0644) or an :class:`Entry`. Give a
    list of pairs instead of a dict to repeat a name. Parent directories are not added
    implicitly. Every entry has mtime :data:`EPOCH` and owner 0:0 unless the Entry says otherwise.
    """
    items = files.items() if isinstance(files, Mapping) else files
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=format) as tar:
        for name, spec in items:
            entry = File(spec) if isinstance(spec, bytes | str) else spec
            info = tarfile.TarInfo(name)
            info.type = _TYPES[entry.kind]
            info.mode = (
                entry.mode if entry.mode is not None else _DEFAULT_MODES.get(entry.kind, 0o644)
            )
            info.uid, info.gid = entry.uid, entry.gid
            info.uname, info.gname = entry.uname, entry.gname
            info.mtime = entry.mtime
            info.linkname = entry.linkname
            info.devmajor, info.devminor = entry.devmajor, entry.devminor
            if entry.pax:
                info.pax_headers = dict(entry.pax)
            info.size = len(entry.data) if entry.kind == "file" else 0
            tar.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    return buf.getvalue()


def compress(data: bytes, compression: Compression) -> bytes:
    """``data`` compressed deterministically (gzip with mtime 0, zstd level 3) or as is."""
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def decompress(blob: bytes, media_type: str) -> bytes:
    """The uncompressed bytes of a layer blob of ``media_type``."""
    if media_type.endswith("gzip"):
        return gzip.decompress(blob)
    if media_type.endswith("zstd"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob


def _layer_media_type(media_types: MediaTypes, compression: Compression) -> str:
    if media_types == "oci":
        return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}[compression]
    if compression == "zstd":
        raise ValueError("docker media types have no zstd layer type")
    return DOCKER_LAYER_GZIP if compression == "gzip" else DOCKER_LAYER


# --------------------------------------------------------------------------- images


class BuiltImage(NamedTuple):
    """A manifest, its config and every blob it names (config and layers), keyed by digest.

    Unpacks as ``manifest, config, blobs = img``. ``blobs`` also holds the config.
    ``diff_ids`` are the sha256 of each uncompressed layer, in order.
    """

    manifest: bytes
    config: bytes
    blobs: dict[str, bytes]

    @property
    def layers_uncompressed(self) -> list[bytes]:
        """Each layer's uncompressed tar, in order (the bytes the diff_ids are taken over)."""
        return [
            decompress(self.blobs[d["digest"]], d["mediaType"])
            for d in self.manifest_json["layers"]
        ]

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def config_digest(self) -> str:
        """The image ID."""
        return sha256(self.config)

    @property
    def manifest_json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.manifest)
        return result

    @property
    def config_json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.config)
        return result

    @property
    def media_type(self) -> str:
        return str(self.manifest_json["mediaType"])

    @property
    def layer_digests(self) -> list[str]:
        return [d["digest"] for d in self.manifest_json["layers"]]

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config_json["rootfs"]["diff_ids"])

    def descriptor(self, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The descriptor of the manifest, with the platform of its config."""
        cfg = self.config_json
        platform = {"architecture": cfg.get("architecture", "amd64"), "os": cfg.get("os", "linux")}
        if cfg.get("variant"):
            platform["variant"] = cfg["variant"]
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.manifest_digest,
            "size": len(self.manifest),
            "platform": platform,
        }
        if annotations:
            desc["annotations"] = dict(annotations)
        return desc


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def make_config(diff_ids: Sequence[str], overrides: Mapping[str, Any] | None = None) -> bytes:
    """An image config for layers with ``diff_ids``; top-level keys of ``overrides`` replace
    the defaults, and a ``None`` value removes the key. One history entry per layer is
    generated unless ``history`` is overridden."""
    data: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [
            {"created": CREATED, "created_by": f"/bin/sh -c #(nop) layer {i}"}
            for i in range(len(diff_ids))
        ],
    }
    for key, value in (overrides or {}).items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return _dumps(data)


def make_image(
    layers: Sequence[bytes | Files] = (),
    config_overrides: Mapping[str, Any] | None = None,
    media_types: MediaTypes = "oci",
    compression: Compression = "gzip",
    *,
    annotations: Mapping[str, str] | None = None,
) -> BuiltImage:
    """An image of ``layers`` (each an uncompressed tar from :func:`make_layer`, or the files
    mapping to build one), compressed with ``compression``, described by an OCI or Docker v2
    schema 2 manifest. ``config_overrides`` as in :func:`make_config`."""
    tars = [layer if isinstance(layer, bytes) else make_layer(layer) for layer in layers]
    diff_ids = [sha256(t) for t in tars]
    config = make_config(diff_ids, config_overrides)
    blobs: dict[str, bytes] = {sha256(config): config}
    layer_type = _layer_media_type(media_types, compression)
    layer_descs = []
    for tar in tars:
        blob = compress(tar, compression)
        blobs[sha256(blob)] = blob
        layer_descs.append({"mediaType": layer_type, "digest": sha256(blob), "size": len(blob)})
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if media_types == "oci" else DOCKER_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG if media_types == "oci" else DOCKER_CONFIG,
            "digest": sha256(config),
            "size": len(config),
        },
        "layers": layer_descs,
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    return BuiltImage(_dumps(manifest), config, blobs)


class BuiltIndex(NamedTuple):
    """An index (or manifest list) and every blob below it, manifests included."""

    index: bytes  # type: ignore[assignment]  # shadows tuple.index, on purpose: the document
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return sha256(self.index)

    @property
    def media_type(self) -> str:
        return str(json.loads(self.index)["mediaType"])

    def descriptor(self, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.index),
        }
        if annotations:
            desc["annotations"] = dict(annotations)
        return desc


def make_index(
    images: Sequence[BuiltImage | BuiltIndex], media_types: MediaTypes = "oci"
) -> BuiltIndex:
    """An OCI index (or Docker manifest list) of ``images``, each with its config's platform."""
    blobs: dict[str, bytes] = {}
    descs = []
    for img in images:
        blobs.update(img.blobs)
        if isinstance(img, BuiltImage):
            blobs[img.manifest_digest] = img.manifest
        else:
            blobs[img.digest] = img.index
        descs.append(img.descriptor())
    index = _dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX if media_types == "oci" else DOCKER_MANIFEST_LIST,
            "manifests": descs,
        }
    )
    return BuiltIndex(index, blobs)


# --------------------------------------------------------------------------- layouts and archives

Tagged = BuiltImage | BuiltIndex | tuple[BuiltImage | BuiltIndex, str | None]


def write_oci_layout(directory: str | os.PathLike[str], images: Sequence[Tagged]) -> Path:
    """Write an OCI image layout at ``directory``: ``oci-layout``, ``index.json`` with one
    entry per item of ``images`` (a BuiltImage/BuiltIndex, or a pair ``(image, tag)`` whose tag
    becomes the ``org.opencontainers.image.ref.name`` annotation), and ``blobs/sha256/*``."""
    root = Path(directory)
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_bytes(_dumps({"imageLayoutVersion": "1.0.0"}))
    descs = []
    for item in images:
        # BuiltImage and BuiltIndex are tuples themselves: test for them first.
        img, tag = (item, None) if isinstance(item, BuiltImage | BuiltIndex) else item
        blobs = dict(img.blobs)
        if isinstance(img, BuiltImage):
            blobs[img.manifest_digest] = img.manifest
        else:
            blobs[img.digest] = img.index
        for digest, data in blobs.items():
            (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
        ann = {"org.opencontainers.image.ref.name": tag} if tag else None
        descs.append(img.descriptor(ann))
    (root / "index.json").write_bytes(
        _dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs})
    )
    return root


def pack_tar(files: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    """A plain tar of regular files (mode 0644, mtime EPOCH), in the order given."""
    return make_layer(files if isinstance(files, Mapping) else list(files))


def tar_directory(directory: str | os.PathLike[str]) -> bytes:
    """A tar of the regular files below ``directory`` (sorted, relative names, no dir entries),
    e.g. an OCI layout made into an ``oci-archive``."""
    root = Path(directory)
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    return make_layer(files)


def make_docker_legacy_archive(
    images: Sequence[tuple[BuiltImage, Sequence[str]]],
) -> bytes:
    """A ``docker save`` archive as docker before 25 wrote it: ``<config hex>.json``,
    ``<layer id>/{VERSION,json,layer.tar}``, ``manifest.json`` and ``repositories``.

    Tags are written as given (``"busybox:latest"``). Layers are stored uncompressed, so a
    gzip or zstd image is decompressed first (from ``layers_uncompressed``)."""
    files: dict[str, bytes] = {}
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    for img, tags in images:
        cfg_hex = img.config_digest.removeprefix("sha256:")
        files[f"{cfg_hex}.json"] = img.config
        layer_paths = []
        parent = ""
        tars = img.layers_uncompressed
        for i, tar in enumerate(tars):
            # docker's legacy v1 layer id: a hash chained over the parent's id and the diff id
            layer_id = hashlib.sha256(f"{parent}\n{sha256(tar)}".encode()).hexdigest()
            v1: dict[str, Any] = {"id": layer_id, "created": CREATED}
            if parent:
                v1["parent"] = parent
            if i == len(tars) - 1:
                v1["config"] = img.config_json.get("config", {})
            files[f"{layer_id}/VERSION"] = b"1.0"
            files[f"{layer_id}/json"] = _dumps(v1)
            files[f"{layer_id}/layer.tar"] = tar
            layer_paths.append(f"{layer_id}/layer.tar")
            parent = layer_id
        manifest.append(
            {"Config": f"{cfg_hex}.json", "RepoTags": list(tags) or None, "Layers": layer_paths}
        )
        for tag in tags:
            repo, _, name = tag.rpartition(":")
            if parent:
                repositories.setdefault(repo, {})[name] = parent
    files["manifest.json"] = _dumps(manifest)
    if repositories:
        files["repositories"] = _dumps(repositories)
    return make_layer(files)
