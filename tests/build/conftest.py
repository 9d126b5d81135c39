"""Fixtures for the build tests: the CLI in-process on a store of the test's own, a busybox
image made here (``lamina import`` of a one-layer rootfs with the host's static busybox), and
readers that turn an image's layers into one file tree, whiteouts applied, to compare."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from buildhelp import CONTENTS, Tree, tree_of_docker_archive

from cli.conftest import Result, Run, lamina, store_root  # noqa: F401

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "ls", "rm", "mkdir", "touch", "chmod", "chown", "id", "mv",
           "ln", "test", "true", "false", "printf", "env", "pwd", "whoami", "stat", "sleep")
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n" \
         b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n"


def busybox_tar() -> bytes:
    """A one-layer busybox rootfs, every entry root-owned with a fixed time."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, 1704067200
            if name == "home/app":
                info.uid = info.gid = 1000
            info.linkname = link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "home/app", "usr",
                  "usr/local"):
            add(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755)
        add("bin/busybox", tarfile.REGTYPE, 0o755, Path(BUSYBOX).read_bytes())
        for applet in APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD)
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP)
        add("usr/local/bin", tarfile.SYMTYPE, 0o777, link="/bin")
    return buf.getvalue()


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    """An empty build context directory."""
    root = tmp_path / "ctx"
    root.mkdir()
    return root


@pytest.fixture
def busybox(lamina: Run, tmp_path: Path) -> str:  # noqa: F811
    if not os.path.exists(BUSYBOX):
        pytest.skip("needs a static busybox (busybox-static)")
    archive = tmp_path / "busybox.tar"
    archive.write_bytes(busybox_tar())
    result = lamina("import", "-c", 'CMD ["sh"]', str(archive), "busybox:test")
    assert result.code == 0, result.err
    return "busybox:test"


@pytest.fixture
def image_tree(lamina: Run, tmp_path: Path) -> Callable[[str], tuple[Tree, dict[str, Any]]]:  # noqa: F811
    counter = iter(range(1000))

    def read(ref: str) -> tuple[Tree, dict[str, Any]]:
        out = tmp_path / f"saved-{next(counter)}.tar"
        result = lamina("save", "-o", str(out), ref)
        assert result.code == 0, result.err
        return tree_of_docker_archive(out)

    return read


@pytest.fixture
def read_files(image_tree: Callable[[str], tuple[Tree, dict[str, Any]]]
               ) -> Callable[[str], dict[str, bytes]]:
    """The regular files of an image (merged) with their contents."""

    def read(ref: str) -> dict[str, bytes]:
        tree, _ = image_tree(ref)
        return {path: CONTENTS[entry[4]] for path, entry in tree.items() if entry[0] == "file"}

    return read


@pytest.fixture
def layer_tars(lamina: Run, tmp_path: Path) -> Callable[[str], list[list[tarfile.TarInfo]]]:  # noqa: F811
    """The members of each layer of an image, bottom first."""

    def read(ref: str) -> list[list[tarfile.TarInfo]]:
        out = tmp_path / "layers.tar"
        assert lamina("save", "-o", str(out), ref).code == 0
        layers = []
        with tarfile.open(out) as archive:
            f = archive.extractfile("manifest.json")
            assert f is not None
            for name in json.loads(f.read())[0]["Layers"]:
                data = archive.extractfile(name)
                assert data is not None
                with tarfile.open(fileobj=io.BytesIO(data.read()), mode="r:*") as tar:
                    layers.append(tar.getmembers())
        return layers

    return read


__all__ = ["Result", "Run"]
