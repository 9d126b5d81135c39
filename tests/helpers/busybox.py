"""A busybox image for real containers: Debian's busybox-static in a one-layer rootfs tarball.

Pure stdlib; imports nothing from lamina. ``needs_containers()`` skips a test that cannot run
containers here (not root, no runc, no busybox).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "cat", "ls", "id", "pwd", "env", "sleep", "true", "false", "touch",
           "rm", "mkdir", "hostname", "printf", "test", "ps", "kill", "ln", "stat", "wc")
PASSWD = (b"root:x:0:0:root:/root:/bin/sh\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
          b"alice:x:1000:1000:Alice:/home/alice:/bin/sh\n")
GROUP = b"root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nstaff:x:50:alice\n"


def needs_containers() -> None:
    if os.geteuid() != 0:
        pytest.skip("running containers needs root")
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    if not BUSYBOX.is_file():
        pytest.skip("busybox-static is not installed (/bin/busybox)")


def busybox_tar(extra: dict[str, bytes] | None = None,
                symlinks: dict[str, str] | None = None) -> bytes:
    """A root filesystem tarball: busybox, its applets as symlinks, passwd and group."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name: str, data: bytes | None = None, *, mode: int = 0o644,
                link: str | None = None) -> None:
            info = tarfile.TarInfo(name)
            info.mtime = 1704067200
            if link is not None:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "home/alice"):
            add(d)
        add("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
        for applet in APPLETS:
            add(f"bin/{applet}", link="busybox")
        files = {"etc/passwd": PASSWD, "etc/group": GROUP, **(extra or {})}
        for name, data in files.items():
            if name not in (symlinks or {}):
                add(name, data)
        for name, target in (symlinks or {}).items():
            add(name, link=target)
    return buf.getvalue()
