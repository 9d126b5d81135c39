"""save, load and import through the CLI, with skopeo and umoci reading what lamina writes."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers.images import make_docker_legacy_archive, make_image, make_layer
from helpers.state import store_state

from .conftest import Run

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None, reason="needs umoci")


def test_save_load_round_trip(lamina: Run, load_image, tmp_path: Path) -> None:
    image = load_image([{"a": b"a"}, {"b": b"b"}], tags=["round:1", "round:2"])
    out = tmp_path / "saved.tar"
    assert lamina("save", "-o", str(out), "round").code == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= set(names)
    assert manifest[0]["RepoTags"] == ["round:1", "round:2"]
    assert manifest[0]["Config"] == "blobs/sha256/" + image.config_digest[7:]
    assert lamina("rmi", "round:1", "round:2").code == 0
    loaded = lamina("load", "-i", str(out))
    assert loaded.out == "Loaded image: round:1\nLoaded image: round:2\n"
    assert lamina("inspect", "-f", "{{.Id}}", "round:2").out.strip() == image.config_digest
    # Loading again changes nothing and says the same.
    assert lamina("load", "-i", str(out)).out == loaded.out


def test_save_to_stdout_and_load_from_stdin(lamina: Run, load_image, tmp_path: Path,
                                            capsysbinary) -> None:
    image = load_image(tags=["pipe:1"])
    import subprocess as sp
    import sys

    saved = sp.run([sys.executable, "-m", "lamina", "save", "pipe:1"], capture_output=True,
                   check=True).stdout
    assert lamina("rmi", "pipe:1").code == 0
    result = lamina("load", stdin=gzip.compress(saved))
    assert result.out == "Loaded image: pipe:1\n", result.err
    assert lamina("images", "-q", "--no-trunc").out.strip() == image.config_digest


def test_load_untagged_and_quiet(lamina: Run, load_image, tmp_path: Path) -> None:
    image = make_image([{"u": b"u"}])
    archive = tmp_path / "legacy.tar"
    archive.write_bytes(make_docker_legacy_archive([(image, [])]))
    result = lamina("load", "-i", str(archive))
    assert result.out == f"Loaded image ID: {image.config_digest}\n"
    # -q has no progress to hide; docker still says what it loaded.
    assert lamina("load", "-q", "-i", str(archive)).out == result.out


def test_load_moves_a_tag(lamina: Run, load_image, tmp_path: Path) -> None:
    old = load_image([{"v": b"1"}], tags=["moving:latest"])
    new = make_image([{"v": b"2"}])
    archive = tmp_path / "new.tar"
    archive.write_bytes(make_docker_legacy_archive([(new, ["moving:latest"])]))
    result = lamina("load", "-i", str(archive))
    assert result.out.splitlines() == [
        f"The image moving:latest already exists, renaming the old one with ID "
        f"{old.config_digest} to empty string",
        "Loaded image: moving:latest",
    ]


@pytest.mark.parametrize("case", ["traversal", "digest", "truncated", "not-an-archive", "empty"])
def test_load_bad_archives_leave_the_store_as_it_was(lamina: Run, load_image, tmp_path: Path,
                                                     store_root: Path, case: str) -> None:
    load_image(tags=["before:1"])
    before_images = lamina("images").out
    before = store_state(store_root)
    good = make_docker_legacy_archive([(make_image([{"z": b"z"}]), ["bad:1"])])
    if case == "traversal":
        data = make_layer({"../../escape": b"x", "manifest.json": b"[]"})
    elif case == "digest":
        # An OCI layout whose layer blob is not what its name says.
        from helpers.images import tar_directory, write_oci_layout

        image = make_image([{"z": b"z"}], compression="none")
        layout = write_oci_layout(tmp_path / "tampered", [(image, "v1")])
        blob = layout / "blobs/sha256" / image.layer_digests[0][7:]
        blob.write_bytes(make_layer({"z": b"Z"}))
        data = tar_directory(layout)
    elif case == "truncated":
        data = good[: len(good) // 2]
    elif case == "not-an-archive":
        data = b"this is not a tar archive at all" * 100
    else:
        data = b""
    archive = tmp_path / "bad.tar"
    archive.write_bytes(data)
    result = lamina("load", "-i", str(archive))
    assert result.code == 1
    assert result.err.startswith("Error: ") and len(result.err.strip().splitlines()) == 1
    assert lamina("images").out == before_images
    assert store_state(store_root) == before


def test_import_rootfs(lamina: Run, tmp_path: Path) -> None:
    rootfs = make_layer({"bin/tool": b"#!/bin/sh\n", "etc/motd": b"hello\n"})
    tarball = tmp_path / "rootfs.tar.gz"
    tarball.write_bytes(gzip.compress(rootfs))
    result = lamina("import", "-c", "CMD [\"/bin/tool\"]", "-c", "ENV A=1 B=2",
                    "-m", "from a test", str(tarball), "imported:1")
    assert result.code == 0, result.err
    image_id = result.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    (obj,) = json.loads(lamina("inspect", "imported:1").out)
    assert obj["Id"] == image_id
    assert obj["Config"]["Cmd"] == ["/bin/tool"]
    assert obj["Config"]["Env"] == ["A=1", "B=2"]
    assert obj["Comment"] == "from a test"
    # The layer's diff_id is the digest of the uncompressed tar we gave.
    assert obj["RootFS"]["Layers"] == ["sha256:" + hashlib.sha256(rootfs).hexdigest()]
    from_stdin = lamina("import", "-", stdin=rootfs)
    assert from_stdin.code == 0 and from_stdin.out.startswith("sha256:")
    history = lamina("history", "--format", "{{.Comment}}", from_stdin.out.strip()).out
    assert history == "Imported from -\n"


def test_import_refuses_hostile_tar(lamina: Run, tmp_path: Path, store_root: Path) -> None:
    lamina("images")
    before = store_state(store_root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../outside")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    bad = tmp_path / "bad.tar"
    bad.write_bytes(buf.getvalue())
    result = lamina("import", str(bad), "evil:1")
    assert result.code == 1 and "../outside" in result.err
    assert store_state(store_root) == before
    assert not (tmp_path / "outside").exists()
    bad_change = lamina("import", "-c", "RUN rm -rf /", str(bad))
    assert bad_change.code == 1
    assert bad_change.err.strip() == "Error: RUN is not a valid change command"


@needs_skopeo
def test_skopeo_reads_what_lamina_saves(lamina: Run, load_image, tmp_path: Path) -> None:
    image = load_image([{"a": b"a"}, {"b": b"b"}], tags=["interop:1"])
    saved = tmp_path / "saved.tar"
    assert lamina("save", "-o", str(saved), "interop:1").code == 0
    inspect = subprocess.run(["skopeo", "inspect", "--raw", "--config",
                              f"docker-archive:{saved}"], capture_output=True, check=True)
    assert "sha256:" + hashlib.sha256(inspect.stdout).hexdigest() == image.config_digest
    oci = tmp_path / "oci"
    subprocess.run(["skopeo", "--insecure-policy", "copy", f"docker-archive:{saved}",
                    f"oci:{oci}:copied"], check=True, capture_output=True)
    # docker 25+'s archive is also an OCI layout: skopeo reads it as oci-archive too.
    subprocess.run(["skopeo", "--insecure-policy", "copy", f"oci-archive:{saved}:1",
                    f"oci:{tmp_path / 'oci2'}:copied"], check=True, capture_output=True)


@needs_umoci
def test_umoci_unpacks_what_lamina_saves(lamina: Run, load_image, tmp_path: Path) -> None:
    load_image([{"etc/hello": b"from lamina\n"}], tags=["unpack:1"])
    saved = tmp_path / "saved.tar"
    assert lamina("save", "-o", str(saved), "unpack:1").code == 0
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(saved) as tar:  # our own archive, read member by member
        for member in tar.getmembers():
            if member.isfile():
                target = layout / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:1", str(bundle)],
                   check=True, capture_output=True)
    assert (bundle / "rootfs/etc/hello").read_bytes() == b"from lamina\n"


@needs_skopeo
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_lamina_loads_what_skopeo_writes(lamina: Run, tmp_path: Path, transport: str) -> None:
    from helpers.images import write_oci_layout

    image = make_image([{"s": b"skopeo"}, {"t": b"two"}])
    layout = write_oci_layout(tmp_path / "src", [(image, "v1")])
    archive = tmp_path / "skopeo.tar"
    dest = f"{transport}:{archive}:" + ("example.com/from/skopeo:v1" if transport ==
                                        "docker-archive" else "v1")
    subprocess.run(["skopeo", "--insecure-policy", "copy", f"oci:{layout}:v1", dest],
                   check=True, capture_output=True)
    result = lamina("load", "-i", str(archive))
    assert result.code == 0, result.err
    ids = lamina("images", "-q", "--no-trunc").out.split()
    assert ids == [image.config_digest]
