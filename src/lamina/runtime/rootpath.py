"""Paths of an image, resolved inside the container's root filesystem and nowhere else.

Every path an image config names (WorkingDir, /etc/passwd, the command) is hostile: a layer can
make ``/etc/passwd`` a symlink to the host's ``/etc/shadow``, or ``WorkingDir`` a path through
``/proc/self/fd`` (the runc CVE-2024-21626 class). Resolution and opening go through lamina's
one implementation of confinement (``lamina.image._confine``: ``openat2(RESOLVE_IN_ROOT)``
where the kernel has it, else a walker through ``O_NOFOLLOW`` directory descriptors). Nothing
outside the rootfs is ever opened, whatever the symlinks.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from lamina.errors import ContainerError
from lamina.image._confine import open_in_root, split, walk

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Directories the runtime mounts over (proc, sysfs, devices): an image path that lands in one
# of them would reach the host's kernel objects once they are mounted, never the image's files.
KERNEL_DIRS = ("proc", "sys", "dev")


class RootFS:
    """A root filesystem directory in which image paths are resolved."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """The absolute path, symlinks resolved inside the rootfs, that ``path`` names.

        Missing components are kept as they are (docker creates a missing WorkingDir); only
        existing symlinks are followed. The result never climbs above the root.
        """
        root_fd = os.open(self.root, _DIR)
        try:
            parts, _ = self._walk(root_fd, path, follow_last=follow_last, create=False)
        finally:
            os.close(root_fd)
        return "/" + "/".join(parts)

    def open(self, path: str, flags: int = os.O_RDONLY, *, regular_only: bool = False) -> int:
        """An fd on the existing file ``path`` (final symlink followed, inside the rootfs).

        ``regular_only``: refuse (ENOENT) anything but a regular file before opening it, so
        that an image's device node (a host disk, a watchdog) is never opened for real.
        """
        root_fd = os.open(self.root, _DIR)
        try:
            return open_in_root(root_fd, path, flags, error=ContainerError,
                                regular_only=regular_only)
        finally:
            os.close(root_fd)

    def read(self, path: str, limit: int = 4 << 20) -> bytes | None:
        """The bytes of the regular file ``path`` in the rootfs, or None if there is none."""
        try:
            fd = self.open(path, os.O_RDONLY | os.O_NONBLOCK, regular_only=True)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EACCES):
                return None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None  # a fifo or device must not hang or feed us
            chunks = []
            total = 0
            while total < limit and (chunk := os.read(fd, min(1 << 16, limit - total))):
                chunks.append(chunk)
                total += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def makedirs(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> str:
        """Create ``path`` (and missing parents) inside the rootfs; return its resolved form.

        New directories are owned by ``uid``:``gid`` as docker makes a missing WorkingDir.
        """
        target = self.resolve(path)
        if in_kernel_dir(target):
            raise ContainerError(
                f"working directory {path} is in /proc, /sys or /dev of the container: refused"
            )
        root_fd = os.open(self.root, _DIR)
        try:
            parts, _ = self._walk(root_fd, target, follow_last=True, create=True,
                                  mode=mode, owner=(uid, gid))
        finally:
            os.close(root_fd)
        return "/" + "/".join(parts)

    def find_executable(self, name: str, path_env: str) -> tuple[str | None, int]:
        """Where the container's exec would find ``name``: (path, 0), or (None, 127) when
        there is no such file, or (path, 126) when it cannot be executed (docker's codes)."""
        candidates = [name] if "/" in name else [
            f"{d or '.'}/{name}" for d in path_env.split(":")
        ]
        refused: str | None = None
        for candidate in candidates:
            try:
                fd = self.open(candidate, os.O_PATH)
            except (OSError, ContainerError):
                continue
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                return candidate, 0
            refused = refused or candidate
        return (refused, 126) if refused else (None, 127)

    def _walk(self, root_fd: int, path: str, *, follow_last: bool, create: bool,
              mode: int = 0o755, owner: tuple[int, int] = (0, 0)) -> tuple[list[str], int]:
        return walk(root_fd, path, follow_last=follow_last, create=create, mode=mode,
                    owner=owner, error=ContainerError)


def in_kernel_dir(path: str) -> bool:
    """Whether a resolved absolute path lies in /proc, /sys or /dev of the container."""
    parts = split(path)
    return bool(parts) and parts[0] in KERNEL_DIRS
