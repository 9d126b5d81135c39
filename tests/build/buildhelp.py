"""Small helpers shared by the build tests."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path


def write_files(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


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


