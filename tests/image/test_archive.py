"""Image archives: docker save (legacy and 25+), OCI layout archives, and hostile archives.

Images are built by tests/helpers/images.py; interop tests run skopeo and umoci for real.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from helpers.images import (
    BuiltImage,
    Device,
    Dir,
    File,
    FileSpec,
    Hardlink,
    Symlink,
    compress,
    make_docker_legacy_archive,
    make_image,
    make_index,
    make_layer,
    sha256,
    tar_directory,
    write_oci_layout,
)
from lamina.errors import IntegrityError, InvalidArgument, LaminaError, NotFound
from lamina.image.archive import Archive, read_archive, write_docker_archive
from lamina.image.base import Image, Layer, LoadedImage
from lamina.model import mediatype as mt
from lamina.model.platform import Platform
from lamina.model.reference import Reference

FILES: dict[str, FileSpec] = {
    "etc": Dir(),
    "etc/hello": b"hello\n",
    "bin": Dir(),
    "bin/sh": Symlink("busybox"),
}


def _image(**kw: Any) -> BuiltImage:
    second: dict[str, FileSpec] = {"tmp": Dir(), "tmp/x": b"x" * 5000}
    return make_image([FILES, second], **kw)


def _layout_archive(tmp_path: Path, items: Sequence[Any], name: str = "layout") -> bytes:
    return tar_directory(write_oci_layout(tmp_path / name, items))


def _read(data: bytes, **kw: Any) -> Archive:
    return read_archive(io.BytesIO(data), **kw)


def _save(images: Sequence[tuple[Image, Sequence[Reference]]]) -> bytes:
    out = io.BytesIO()
    write_docker_archive(images, out)
    return out.getvalue()


def _ref(text: str) -> Reference:
    return Reference.parse(text)


def _uncompressed_digest(layer: Layer) -> str:
    with layer.open_uncompressed() as f:
        return sha256(f.read())


def _check_image(loaded: LoadedImage, built: BuiltImage) -> None:
    image = loaded.image
    assert isinstance(image, Image)
    assert loaded.id == built.config_digest
    assert image.raw_config() == built.config
    assert image.digest() == sha256(image.raw_manifest())
    assert image.manifest().config.digest == built.config_digest
    layers = image.layers()
    assert [str(layer.diff_id) for layer in layers] == built.diff_ids
    for layer in layers:
        assert isinstance(layer, Layer)
        with layer.open_compressed() as f:
            blob = f.read()
        assert sha256(blob) == layer.digest and len(blob) == layer.size
        assert _uncompressed_digest(layer) == layer.diff_id


# --------------------------------------------------------------------------- reading


def test_legacy_docker_archive_keeps_the_image_id() -> None:
    built = _image()
    data = make_docker_legacy_archive([(built, ["example.com/app:v1", "busybox:latest"])])
    with _read(data) as archive:
        assert archive.kind == "docker"
        [loaded] = archive.images
        _check_image(loaded, built)
        assert [str(t) for t in loaded.tags] == [
            "example.com/app:v1",
            "docker.io/library/busybox:latest",
        ]
        manifest = loaded.image.manifest()
        assert manifest.media_type == mt.DOCKER_MANIFEST
        assert manifest.config.media_type == mt.DOCKER_CONFIG
        # Legacy layers are the stored layer.tar files: uncompressed, digest == diff_id.
        assert [d.media_type for d in manifest.layers] == [mt.DOCKER_LAYER_UNCOMPRESSED] * 2
        assert [str(d.digest) for d in manifest.layers] == built.diff_ids


def test_legacy_archive_with_several_images_and_an_untagged_one() -> None:
    a, b = _image(), make_image([{"a": b"a"}], {"author": "b"})
    data = make_docker_legacy_archive([(a, ["a:1"]), (b, [])])
    with _read(data) as archive:
        assert [x.id for x in archive.images] == [a.config_digest, b.config_digest]
        assert archive.images[1].tags == ()


def test_skopeo_style_archive_with_layer_symlinks() -> None:
    """skopeo writes <hex>.tar files and legacy <id>/layer.tar symlinks to them."""
    built = _image()
    tars = built.layers_uncompressed
    files: list[tuple[str, Any]] = [(f"{built.config_digest[7:]}.json", built.config)]
    for i, tar in enumerate(tars):
        files.append((f"{sha256(tar)[7:]}.tar", tar))
        files.append((f"id{i}/layer.tar", Symlink(f"../{sha256(tar)[7:]}.tar")))
    manifest = [
        {
            "Config": f"{built.config_digest[7:]}.json",
            "RepoTags": ["x:y"],
            "Layers": [f"id{i}/layer.tar" for i in range(len(tars))],
        }
    ]
    files.append(("manifest.json", json.dumps(manifest).encode()))
    with _read(make_layer(files)) as archive:
        _check_image(archive.images[0], built)


@pytest.mark.parametrize(
    ("media_types", "compression"),
    [("oci", "gzip"), ("oci", "zstd"), ("oci", "none"), ("docker", "gzip"), ("docker", "none")],
)
def test_oci_layout_archive_keeps_manifest_and_blobs(
    tmp_path: Path, media_types: Any, compression: Any
) -> None:
    built = _image(media_types=media_types, compression=compression)
    data = _layout_archive(tmp_path, [(built, "example.com/app:v1")])
    with _read(data) as archive:
        assert archive.kind == "oci"
        [loaded] = archive.images
        _check_image(loaded, built)
        assert loaded.image.raw_manifest() == built.manifest
        assert loaded.tags == (_ref("example.com/app:v1"),)


def test_oci_ref_name_that_is_only_a_tag(tmp_path: Path) -> None:
    data = _layout_archive(tmp_path, [(_image(), "v1.0")])
    with _read(data) as archive:
        assert archive.images[0].tags == ()
        assert archive.images[0].ref_name == "v1.0"


def test_oci_entries_for_the_same_manifest_are_merged(tmp_path: Path) -> None:
    built = _image()
    data = _layout_archive(tmp_path, [(built, "a:1"), (built, "b:2"), (built, None)])
    with _read(data) as archive:
        [loaded] = archive.images
        assert [t.familiar for t in loaded.tags] == ["a:1", "b:2"]


def test_nested_index_picks_the_platform(tmp_path: Path) -> None:
    amd = _image()
    arm = make_image([{"arm": b"arm"}], {"architecture": "arm64", "variant": "v8"})
    index = make_index([amd, arm])
    data = _layout_archive(tmp_path, [(index, "example.com/multi:1")])
    with _read(data, platform=Platform("linux", "arm64")) as archive:
        [loaded] = archive.images
        assert loaded.id == arm.config_digest
        assert loaded.tags == (_ref("example.com/multi:1"),)
    with _read(data, platform=Platform("linux", "amd64")) as archive:
        assert archive.images[0].id == amd.config_digest
    with pytest.raises(NotFound, match="no image for platform linux/s390x"):
        _read(data, platform=Platform("linux", "s390x"))


def test_gzip_archive_from_a_pipe(tmp_path: Path) -> None:
    built = _image()
    data = gzip.compress(_layout_archive(tmp_path, [(built, "a:1")]))
    with _pipe(data) as stream, read_archive(stream, tmp_dir=tmp_path) as archive:
        _check_image(archive.images[0], built)
    assert [p.name for p in tmp_path.iterdir()] == ["layout"]  # the spool is gone


def test_zstd_archive_from_a_file(tmp_path: Path) -> None:
    built = _image()
    path = tmp_path / "a.tar.zst"
    path.write_bytes(compress(make_docker_legacy_archive([(built, ["a:1"])]), "zstd"))
    with read_archive(path) as archive:
        _check_image(archive.images[0], built)


@contextmanager
def _pipe(data: bytes) -> Iterator[io.BufferedReader]:
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=feed)
    thread.start()
    with os.fdopen(r, "rb") as stream:
        yield stream
    thread.join()


# --------------------------------------------------------------------------- writing


@contextmanager
def _loaded(tmp_path: Path, *items: tuple[BuiltImage, str | None]) -> Iterator[list[LoadedImage]]:
    """Real Image objects: the built images read back from an OCI layout archive."""
    with _read(_layout_archive(tmp_path, list(items), "src")) as archive:
        yield archive.images


def test_save_writes_docker_25_format(tmp_path: Path) -> None:
    built = _image()
    with _loaded(tmp_path, (built, "example.com/app:v1")) as images:
        tags = [_ref("example.com/app:v1"), _ref("busybox")]
        data = _save([(images[0].image, tags)])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    files = {m.name: data[m.offset_data : m.offset_data + m.size] for m in members if m.isfile()}
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert names[:2] == ["blobs", "blobs/sha256"]
    assert names[-4:] == ["index.json", "manifest.json", "oci-layout", "repositories"]
    for name, content in files.items():
        if name.startswith("blobs/"):
            assert sha256(content) == "sha256:" + name.rsplit("/", 1)[1]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    assert index["mediaType"] == mt.OCI_INDEX
    assert [e["annotations"] for e in index["manifests"]] == [
        {
            "io.containerd.image.name": "example.com/app:v1",
            "org.opencontainers.image.ref.name": "v1",
        },
        {
            "io.containerd.image.name": "docker.io/library/busybox:latest",
            "org.opencontainers.image.ref.name": "latest",
        },
    ]
    assert index["manifests"][0]["digest"] == built.manifest_digest  # OCI manifest kept as is
    assert index["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}
    [item] = json.loads(files["manifest.json"])
    assert item["Config"] == f"blobs/sha256/{built.config_digest[7:]}"
    assert item["RepoTags"] == ["example.com/app:v1", "busybox:latest"]
    assert item["Layers"] == [f"blobs/sha256/{d[7:]}" for d in built.layer_digests]
    assert json.loads(files["repositories"]) == {
        "example.com/app": {"v1": built.layer_digests[-1][7:]},
        "busybox": {"latest": built.layer_digests[-1][7:]},
    }


@pytest.mark.parametrize(
    ("media_types", "compression"), [("oci", "zstd"), ("docker", "gzip"), ("docker", "none")]
)
def test_save_then_load_round_trip(tmp_path: Path, media_types: Any, compression: Any) -> None:
    built = _image(media_types=media_types, compression=compression)
    other = make_image([FILES], {"author": "other"})  # shares the first layer's tar
    with _loaded(tmp_path, (built, "a:1"), (other, None)) as images:
        data = _save([(images[0].image, [_ref("a:1")]), (images[1].image, [])])
        assert data == _save([(images[0].image, [_ref("a:1")]), (images[1].image, [])])
    with _read(data) as archive:
        assert archive.kind == "docker+oci"
        first, second = archive.images
        _check_image(first, built)
        _check_image(second, other)
        assert first.tags == (_ref("a:1"),) and second.tags == ()
        # The OCI manifest of the layout is used, not a synthesised one.
        assert first.image.manifest().media_type == mt.OCI_MANIFEST
        if media_types == "oci":
            assert first.image.raw_manifest() == built.manifest
        else:
            assert [d.digest for d in first.image.manifest().layers] == built.layer_digests


def test_save_refuses_a_layer_that_does_not_match(tmp_path: Path) -> None:
    """The writer checks the bytes it streams against the layer's digest."""

    class Lying:
        def __init__(self, inner: Layer) -> None:
            self.inner = inner
            self.digest, self.diff_id = inner.digest, inner.diff_id
            self.size, self.media_type = inner.size, inner.media_type

        def open_compressed(self) -> io.BytesIO:
            return io.BytesIO(b"\0" * self.size)

        def open_uncompressed(self) -> io.BytesIO:
            raise AssertionError

    class Wrapped:
        def __init__(self, inner: Image) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def layers(self) -> list[Lying]:
            return [Lying(layer) for layer in self.inner.layers()]

    with (
        _loaded(tmp_path, (_image(), None)) as images,
        pytest.raises(IntegrityError, match="does not match"),
    ):
        _save([(Wrapped(images[0].image), [])])


# --------------------------------------------------------------------------- hostile archives


def _expect(data: bytes, error: type[LaminaError], match: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    with _pipe(data) as stream, pytest.raises(error, match=match) as info:
        read_archive(stream, tmp_dir=spool)
    assert "\n" not in str(info.value)
    assert list(spool.iterdir()) == []  # nothing left behind
    # A file read in place fails the same way.
    path = tmp_path / "hostile.tar"
    path.write_bytes(data)
    with pytest.raises(error, match=match):
        read_archive(path)


def _legacy_with(tmp_path: Path, extra: list[tuple[str, Any]], layers: list[str]) -> bytes:
    built = make_image([{"a": b"a"}])
    files: list[tuple[str, Any]] = [("c.json", built.config), *extra]
    manifest = [{"Config": "c.json", "RepoTags": None, "Layers": layers}]
    files.append(("manifest.json", json.dumps(manifest).encode()))
    return make_layer(files)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("../evil", "points outside"),
        ("blobs/../../evil", "points outside"),
        ("/etc/evil", "absolute entry name"),
    ],
)
def test_path_traversal_entries(tmp_path: Path, name: str, match: str) -> None:
    data = make_layer([("oci-layout", b"{}"), (name, b"evil")])
    _expect(data, InvalidArgument, match, tmp_path)


def test_manifest_json_pointing_outside(tmp_path: Path) -> None:
    tar = make_image([{"a": b"a"}]).layers_uncompressed[0]
    for layers, match in [
        (["../../etc/passwd"], "points outside"),
        (["/etc/passwd"], "absolute entry name"),
        (["l.tar/../../x"], "points outside"),
    ]:
        _expect(_legacy_with(tmp_path, [("l.tar", tar)], layers), InvalidArgument, match, tmp_path)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (Symlink("/etc/passwd"), "links outside"),
        (Symlink("../../../etc/passwd"), "points outside"),
        (Symlink("layer.tar"), "too many links"),
        (Hardlink("../etc/passwd"), "points outside"),
    ],
)
def test_symlinked_layer_reaching_outside(tmp_path: Path, entry: Any, match: str) -> None:
    data = _legacy_with(tmp_path, [("id/layer.tar", entry)], ["id/layer.tar"])
    _expect(data, InvalidArgument, match, tmp_path)


def test_symlink_as_a_blob_is_refused(tmp_path: Path) -> None:
    built = _image()
    root = write_oci_layout(tmp_path / "l", [(built, "a:1")])
    victim = root / "blobs/sha256" / built.layer_digests[0][7:]
    victim.unlink()
    victim.symlink_to("/etc/passwd")
    data = make_layer(
        [
            (
                p.relative_to(root).as_posix(),
                Symlink("/etc/passwd") if p.is_symlink() else p.read_bytes(),
            )
            for p in sorted(root.rglob("*"))
            if p.is_file() or p.is_symlink()
        ]
    )
    _expect(data, InvalidArgument, "is a link", tmp_path)


def test_blob_digest_mismatch(tmp_path: Path) -> None:
    built = _image()
    root = write_oci_layout(tmp_path / "l", [(built, "a:1")])
    (root / "blobs/sha256" / built.layer_digests[1][7:]).write_bytes(b"not the layer")
    _expect(tar_directory(root), IntegrityError, "does not match expected", tmp_path)


def test_config_that_does_not_match_the_manifest(tmp_path: Path) -> None:
    built = _image()
    root = write_oci_layout(tmp_path / "l", [(built, "a:1")])
    config = root / "blobs/sha256" / built.config_digest[7:]
    config.write_bytes(config.read_bytes().replace(b"amd64", b"arm64"))
    _expect(tar_directory(root), IntegrityError, "does not match expected", tmp_path)


def test_legacy_config_named_by_a_wrong_digest(tmp_path: Path) -> None:
    built = make_image([{"a": b"a"}])
    bad = "0" * 64
    files = [
        (f"{bad}.json", built.config),
        ("l.tar", built.layers_uncompressed[0]),
        ("manifest.json", json.dumps([{"Config": f"{bad}.json", "Layers": ["l.tar"]}]).encode()),
    ]
    _expect(make_layer(files), IntegrityError, "does not match", tmp_path)


def test_missing_blob(tmp_path: Path) -> None:
    built = _image()
    root = write_oci_layout(tmp_path / "l", [(built, "a:1")])
    (root / "blobs/sha256" / built.layer_digests[0][7:]).unlink()
    _expect(tar_directory(root), InvalidArgument, "is missing", tmp_path)


def test_huge_declared_size_in_a_descriptor(tmp_path: Path) -> None:
    built = _image()
    manifest = built.manifest_json
    manifest["layers"][0]["size"] = 1 << 50
    raw = json.dumps(manifest).encode()
    lying = BuiltImage(raw, built.config, built.blobs)
    _expect(_layout_archive(tmp_path, [(lying, "a:1")]), IntegrityError, "size", tmp_path)


def test_huge_declared_size_in_a_tar_header(tmp_path: Path) -> None:
    data = make_layer([("manifest.json", b"[]")])
    header = bytearray(data[:512])
    header[124:136] = b"%011o\0" % ((1 << 33) - 1)  # 8 GiB of data that is not there
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    _expect(bytes(header) + data[512:], InvalidArgument, "truncated|invalid", tmp_path)
    with pytest.raises(InvalidArgument, match="more than 1000 bytes"):
        read_archive(io.BytesIO(make_layer({"big": b"x" * 2000})), max_size=1000)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"this is not a tar file at all" * 40, "not a valid tar|no manifest.json"),
        (gzip.compress(b"not a tar" * 100, mtime=0), "not a valid tar|no manifest.json"),
        (b"\x1f\x8b\x08\x00garbage-garbage", "not a valid tar|cannot be read"),
        (make_layer({"dev": Device("char", 1, 3)}), "not a regular file"),
        (make_layer([("a", b"1"), ("a", b"2")]), "duplicate entry"),
        (make_layer({"manifest.json": b"{not json"}), "invalid JSON"),
        (make_layer({"manifest.json": b'[{"Config": 1}]'}), "Config"),
        (make_layer({"repositories": b"{}"}), "before 1.10"),
        (make_layer({"index.json": b"{}"}), "no oci-layout"),
    ],
)
def test_malformed_archives(tmp_path: Path, data: bytes, match: str) -> None:
    # (gzip's mtime is fixed above: pytest-xdist needs the same test ids in every worker.)
    _expect(data, LaminaError, match, tmp_path)


def test_config_with_too_few_diff_ids(tmp_path: Path) -> None:
    built = make_image([{"a": b"a"}])
    tars = built.layers_uncompressed
    config = json.loads(built.config)
    config["rootfs"]["diff_ids"] = []
    config["history"] = []
    raw = json.dumps(config).encode()
    files = [
        ("c.json", raw),
        ("l.tar", tars[0]),
        ("manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode()),
    ]
    _expect(make_layer(files), InvalidArgument, "diff_ids", tmp_path)


def test_files_with_odd_entries_are_fine(tmp_path: Path) -> None:
    """Directories and ./ prefixes, as `tar -C layout -cf - .` writes them."""
    built = _image()
    root = write_oci_layout(tmp_path / "l", [(built, "a:1")])
    files: list[tuple[str, Any]] = [("./", Dir()), ("./blobs/", Dir())]
    files += [
        ("./" + p.relative_to(root).as_posix(), File(p.read_bytes()))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]
    with _read(make_layer(files)) as archive:
        _check_image(archive.images[0], built)


# --------------------------------------------------------------------------- interop

SKOPEO = shutil.which("skopeo")
UMOCI = shutil.which("umoci")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
needs_umoci = pytest.mark.skipif(UMOCI is None, reason="umoci is not installed")


def _skopeo(*args: str) -> bytes:
    assert SKOPEO is not None
    return subprocess.run(
        [SKOPEO, "--insecure-policy", *args], check=True, capture_output=True, timeout=120
    ).stdout


@pytest.fixture(params=["oci", "docker"])
def saved(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, BuiltImage]:
    built = _image(media_types=request.param)
    with _loaded(tmp_path, (built, None)) as images:
        path = tmp_path / "saved.tar"
        with path.open("wb") as f:
            write_docker_archive([(images[0].image, [_ref("example.com/app:v1")])], f)
    return path, built


@pytest.mark.peer
@needs_skopeo
def test_skopeo_reads_our_docker_archive(saved: tuple[Path, BuiltImage], tmp_path: Path) -> None:
    path, built = saved
    info = json.loads(_skopeo("inspect", f"docker-archive:{path}"))
    assert len(info["Layers"]) == 2
    config = _skopeo("inspect", "--raw", "--config", f"docker-archive:{path}")
    assert sha256(config) == built.config_digest
    _skopeo("copy", f"docker-archive:{path}", f"oci:{tmp_path / 'copy'}:tag")
    assert (tmp_path / "copy" / "index.json").exists()


@pytest.mark.peer
@needs_skopeo
def test_skopeo_reads_our_archive_as_oci(saved: tuple[Path, BuiltImage], tmp_path: Path) -> None:
    path, built = saved
    _skopeo("copy", f"oci-archive:{path}:v1", f"oci:{tmp_path / 'copy'}:tag")
    manifest = json.loads(_skopeo("inspect", "--raw", f"oci:{tmp_path / 'copy'}:tag"))
    assert manifest["config"]["digest"] == built.config_digest


@pytest.mark.peer
@needs_umoci
def test_umoci_unpacks_our_layout(saved: tuple[Path, BuiltImage], tmp_path: Path) -> None:
    path, _ = saved
    layout = tmp_path / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-C", str(layout), "-xf", str(path)], check=True)
    bundle = tmp_path / "bundle"
    assert UMOCI is not None
    subprocess.run(
        [UMOCI, "unpack", "--rootless", "--image", f"{layout}:v1", str(bundle)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    rootfs = bundle / "rootfs"
    assert (rootfs / "etc/hello").read_bytes() == b"hello\n"
    assert os.readlink(rootfs / "bin/sh") == "busybox"
    assert (rootfs / "tmp/x").stat().st_size == 5000


@pytest.mark.peer
@needs_skopeo
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_we_read_skopeo_docker_archive(tmp_path: Path, compression: Any) -> None:
    built = _image(compression=compression)
    layout = write_oci_layout(tmp_path / "layout", [(built, "v1")])
    out = tmp_path / "skopeo.tar"
    _skopeo("copy", f"oci:{layout}:v1", f"docker-archive:{out}:example.com/app:v1")
    expected = sha256(_skopeo("inspect", "--raw", "--config", f"docker-archive:{out}"))
    with read_archive(out) as archive:
        [loaded] = archive.images
        assert loaded.id == expected
        assert loaded.tags == (_ref("example.com/app:v1"),)
        assert [str(layer.diff_id) for layer in loaded.image.layers()] == built.diff_ids
        for layer in loaded.image.layers():
            assert _uncompressed_digest(layer) == layer.diff_id
    # And compressed, through a pipe.
    with _pipe(gzip.compress(out.read_bytes())) as stream, read_archive(stream) as archive:
        assert archive.images[0].id == expected


@pytest.mark.peer
@needs_skopeo
def test_we_read_skopeo_oci_archive(tmp_path: Path) -> None:
    built = _image()
    layout = write_oci_layout(tmp_path / "layout", [(built, "v1")])
    out = tmp_path / "skopeo-oci.tar"
    _skopeo("copy", f"oci:{layout}:v1", f"oci-archive:{out}:example.com/app:v1")
    with read_archive(out) as archive:
        [loaded] = archive.images
        assert loaded.id == built.config_digest  # OCI to OCI: the config is untouched
        assert loaded.image.digest() == built.manifest_digest
        assert loaded.tags == (_ref("example.com/app:v1"),)
        _check_image(loaded, built)


def test_helpers_hash_matches_hashlib() -> None:
    assert sha256(b"x") == "sha256:" + hashlib.sha256(b"x").hexdigest()


def _docker25_archive(
    images: Sequence[tuple[BuiltImage, list[str]]], extra_index: Any = ()
) -> bytes:
    """An archive laid out as docker 25's graphdriver `docker save` writes it: uncompressed
    layer blobs named by diff_id, an OCI manifest per image, per-layer v1 json blobs."""
    blobs: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = [*extra_index]
    items = []
    for built, tags in images:
        tars = built.layers_uncompressed
        layers = [{"mediaType": mt.OCI_LAYER, "digest": sha256(t), "size": len(t)} for t in tars]
        config = {
            "mediaType": mt.OCI_CONFIG,
            "digest": built.config_digest,
            "size": len(built.config),
        }
        manifest = json.dumps(
            {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": layers}
        ).encode()
        blobs.update({sha256(t): t for t in tars})
        blobs[built.config_digest] = built.config
        blobs[sha256(manifest)] = manifest
        v1 = json.dumps({"id": "0" * 64, "created": "1970-01-01T00:00:00Z"}).encode()
        blobs[sha256(v1)] = v1
        for tag in tags:
            ref = _ref(tag)
            entries.append(
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": str(ref),
                        "org.opencontainers.image.ref.name": ref.tag,
                    },
                }
            )
        items.append(
            {
                "Config": f"blobs/sha256/{built.config_digest[7:]}",
                "RepoTags": tags or None,
                "Layers": [f"blobs/sha256/{sha256(t)[7:]}" for t in tars],
            }
        )
    files: list[tuple[str, Any]] = [("blobs", Dir()), ("blobs/sha256", Dir())]
    files += [(f"blobs/sha256/{d[7:]}", data) for d, data in sorted(blobs.items())]
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    files += [
        ("index.json", json.dumps(index).encode()),
        ("manifest.json", json.dumps(items).encode() + b"\n"),
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
    ]
    return make_layer(files)


def test_docker_25_archive_uses_its_oci_manifests() -> None:
    a, b = _image(), make_image([{"b": b"b"}], {"author": "b"})
    # An index whose manifests were not saved (another platform) is ignored.
    absent = {"mediaType": mt.OCI_INDEX, "digest": sha256(b"absent"), "size": 6}
    data = _docker25_archive([(a, ["example.com/a:1", "a:2"]), (b, [])], [absent])
    with _read(data) as archive:
        assert archive.kind == "docker+oci"
        first, second = archive.images
        _check_image(first, a)
        _check_image(second, b)
        assert [t.familiar for t in first.tags] == ["example.com/a:1", "a:2"]
        manifest = first.image.manifest()
        assert manifest.media_type == mt.OCI_MANIFEST
        assert [d.media_type for d in manifest.layers] == [mt.OCI_LAYER] * 2
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = tar.getnames()
        assert f"blobs/sha256/{first.image.digest().hex}" in names  # the archive's own manifest


class _Trickle(io.RawIOBase):
    """A stream that gives one byte per read, as a slow pipe may."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._data:
            return 0
        buffer[0] = self._data[0]
        self._data = self._data[1:]
        return 1


def test_compressed_archive_from_a_trickling_stream(tmp_path: Path) -> None:
    built = make_image([{"a": b"a"}])
    data = gzip.compress(make_docker_legacy_archive([(built, ["a:1"])]))
    with read_archive(_Trickle(data)) as archive:
        assert archive.images[0].id == built.config_digest


def test_too_many_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lamina.image import spool

    monkeypatch.setattr(spool, "MAX_ENTRIES", 10)
    data = make_layer({f"d{i}": Dir() for i in range(11)})
    _expect(data, InvalidArgument, "more than 10 entries", tmp_path)


def test_save_merges_repeated_images_and_drops_digest_references(tmp_path: Path) -> None:
    built = _image()
    with _loaded(tmp_path, (built, None)) as images:
        image = images[0].image
        pinned = _ref(f"example.com/app@{built.manifest_digest}")
        data = _save([(image, [_ref("a:1")]), (image, [_ref("a:1"), _ref("b"), pinned])])
    with _read(data) as archive:
        [loaded] = archive.images
        assert [t.familiar for t in loaded.tags] == ["a:1", "b:latest"]


def test_huge_tar_header_extension_is_refused(tmp_path: Path) -> None:
    """A PAX header claiming gigabytes must not be read into memory."""
    data = make_layer({"manifest.json": File(b"[]", pax={"comment": "x"})})
    header = bytearray(data[:512])
    assert header[156:157] == b"x"  # the PAX extended header comes first
    header[124:136] = b"%011o\0" % ((1 << 33) - 1)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    _expect(bytes(header) + data[512:], InvalidArgument, "tar header extension", tmp_path)
