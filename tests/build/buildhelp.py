"""Helpers shared by the build tests: contexts, step lines, and layer tars read into one
merged file tree (whiteouts applied) to compare images by their files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# path -> (type, mode, uid, gid, content digest or link target)
Tree = dict[str, tuple[str, int, int, int, str]]
# content digest -> content, of every file read so far
CONTENTS: dict[str, bytes] = {}


def write_files(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def build_ok(lamina: Any, ctx: Path, dockerfile: str, *args: str) -> str:
    """Build ``dockerfile`` in ``ctx``; assert success; return the output."""
    (ctx / "Dockerfile").write_text(dockerfile)
    result = lamina("build", *args, str(ctx))
    assert result.code == 0, result.out + result.err
    return str(result.out)


def steps(out: str) -> list[str]:
    """The step lines of a build's output."""
    return [line for line in out.splitlines()
            if line.startswith("[") or line.startswith("CACHED [")]


def runc_available() -> bool:
    return os.geteuid() == 0 and any(shutil.which(t) for t in ("runc", "crun"))


def tar_of(files: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            info.uid, info.gid = 7, 8
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def apply_layer(tree: Tree, tar: tarfile.TarFile) -> None:
    for member in tar:
        name = posixpath.normpath(member.name.lstrip("/")).removeprefix("./")
        if name in (".", ""):
            continue
        parent, base = posixpath.split(name)
        prefix = parent + "/" if parent else ""
        if base == ".wh..wh..opq":
            for key in [k for k in tree if k.startswith(prefix) and k != parent]:
                del tree[key]
            continue
        if base.startswith(".wh."):
            gone = prefix + base[4:]
            for key in [k for k in tree if k == gone or k.startswith(gone + "/")]:
                del tree[key]
            continue
        if not member.isdir():
            for key in [k for k in tree if k == name or k.startswith(name + "/")]:
                del tree[key]
        if member.isreg():
            f = tar.extractfile(member)
            assert f is not None
            data = f.read()
            value = hashlib.sha256(data).hexdigest()
            CONTENTS[value] = data
            kind = "file"
        elif member.islnk():
            value, kind = tree[posixpath.normpath(member.linkname.lstrip("/"))][4], "file"
        elif member.issym():
            value, kind = member.linkname, "symlink"
        elif member.isdir():
            value, kind = "", "dir"
        else:
            value, kind = f"{member.devmajor}:{member.devminor}", "node"
        tree[name] = (kind, member.mode & 0o7777, member.uid, member.gid, value)


def tree_of_docker_archive(path: Path) -> tuple[Tree, dict[str, Any]]:
    """The merged files and the config of the (first) image of a docker archive."""
    with tarfile.open(path) as archive:
        def read(name: str) -> bytes:
            f = archive.extractfile(name)
            assert f is not None
            return f.read()

        manifest = json.loads(read("manifest.json"))[0]
        config = json.loads(read(manifest["Config"]))
        tree: Tree = {}
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=io.BytesIO(read(layer)), mode="r:*") as tar:
                apply_layer(tree, tar)
    return tree, config
