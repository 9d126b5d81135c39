"""Paths of an image, resolved inside the container's root filesystem and nowhere else.

Every path an image config names (WorkingDir, /etc/passwd, the command) is hostile: a layer can
make ``/etc/passwd`` a symlink to the host's ``/etc/shadow``, or ``WorkingDir`` a path through
``/proc/self/fd`` (the runc CVE-2024-21626 class). So paths are walked one component at a time
through directory file descriptors opened with ``O_NOFOLLOW``; a symlink met on the way is read
and resolved as if the rootfs were ``/`` (``..`` stops at the root, an absolute target starts
again from the root), as ``openat2(RESOLVE_IN_ROOT)`` does. Nothing outside the rootfs is ever
opened, whatever the symlinks, and a component swapped for a symlink while we walk is caught by
``O_NOFOLLOW`` rather than followed.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import suppress
from pathlib import Path

from lamina.errors import ContainerError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# Linux's own bound on symlinks followed in one lookup.
MAX_SYMLINKS = 40
# Directories the runtime mounts over (proc, sysfs, devices): an image path that lands in one
# of them would reach the host's kernel objects once they are mounted, never the image's files.
KERNEL_DIRS = ("proc", "sys", "dev")


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


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
            parts, parent = self._walk(root_fd, path, follow_last=True, create=False,
                                       keep_parent=True)
        finally:
            os.close(root_fd)
        name = parts[-1] if parts else "."
        try:
            if regular_only and not stat.S_ISREG(
                os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
            ):
                raise FileNotFoundError(errno.ENOENT, "not a regular file in the image", path)
            return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        finally:
            os.close(parent)

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
              keep_parent: bool = False, mode: int = 0o755,
              owner: tuple[int, int] = (0, 0)) -> tuple[list[str], int]:
        """Walk ``path`` from the root; return the resolved components.

        With ``keep_parent`` the fd of the directory holding the last component is returned
        open (the caller closes it), else -1. Without ``create``, components after a missing
        one are taken literally; with it, they are made as directories.
        """
        pending = _split(path)
        resolved: list[str] = []
        fds = [os.dup(root_fd)]  # fds[i] is the directory resolved[:i] (while none is missing)
        links = 0
        missing = False
        try:
            while pending:
                name = pending.pop(0)
                if name == "..":
                    if resolved:
                        resolved.pop()
                        while len(fds) > len(resolved) + 1:
                            os.close(fds.pop())
                        # Back above the missing component: lookups resume (securejoin's
                        # lexical rule for a path through a directory that does not exist).
                        missing = missing and len(fds) < len(resolved) + 1
                    continue
                if missing:
                    resolved.append(name)
                    continue
                last = not pending
                try:
                    st = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        missing = True
                        resolved.append(name)
                        continue
                    with suppress(FileExistsError):
                        os.mkdir(name, mode, dir_fd=fds[-1])
                        os.chown(name, *owner, dir_fd=fds[-1], follow_symlinks=False)
                    st = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise ContainerError(f"{path}: too many levels of symbolic links")
                    target = os.readlink(name, dir_fd=fds[-1])
                    if target.startswith("/"):
                        for fd in fds[1:]:
                            os.close(fd)
                        del fds[1:]
                        resolved.clear()
                    pending[:0] = _split(target)
                    continue
                resolved.append(name)
                if stat.S_ISDIR(st.st_mode):
                    if not last or create:
                        fds.append(os.open(name, _DIR, dir_fd=fds[-1]))
                elif create or not last:
                    raise ContainerError(f"{path}: not a directory in the image")
            if not keep_parent:
                return resolved, -1
            if missing:
                raise FileNotFoundError(errno.ENOENT, "no such file in the image", path)
            if not resolved:
                return resolved, fds.pop(0)
            while len(fds) > len(resolved):
                os.close(fds.pop())
            return resolved, fds.pop()
        finally:
            for fd in fds:
                os.close(fd)


def in_kernel_dir(path: str) -> bool:
    """Whether a resolved absolute path lies in /proc, /sys or /dev of the container."""
    parts = _split(path)
    return bool(parts) and parts[0] in KERNEL_DIRS
