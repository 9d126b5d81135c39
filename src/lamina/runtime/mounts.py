"""The container's root filesystem: an overlayfs mount of the image's layer snapshots.

The snapshots are the lowerdirs, shared by every container of the image and never copied; the
container's own ``upper`` and ``work`` directories are its writable layer. mount(2) takes its
options in one page (4096 bytes), and a snapshot path is long, so the lowerdirs are given
relative to the snapshots directory (the mount runs with that as its working directory), which
fits about fifty layers; deeper images go through a directory of one-character symlinks.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from lamina.errors import ContainerError
from lamina.model.digest import Digest
from lamina.store import Store

# The kernel copies at most one page of mount data, NUL included.
MAX_MOUNT_DATA = 4095
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8
MS_RDONLY = 1
# Renamed directories and metadata-only copy-ups would leave overlay xattrs in the upper
# directory that a layer tar cannot carry; without them, `diff` and `commit` see plain files.
OVERLAY_OPTIONS = "index=off,redirect_dir=off,metacopy=off"

_chdir_lock = threading.Lock()
_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def mount(source: str, target: Path | str, fstype: str, flags: int = 0, data: str = "") -> None:
    rc = libc().mount(source.encode(), os.fsencode(target), fstype.encode(),
                      ctypes.c_ulong(flags), data.encode() if data else None)
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


def unmount(target: Path | str, *, lazy: bool = False) -> None:
    """Unmount ``target``; a path that is not a mount point is left alone."""
    flags = UMOUNT_NOFOLLOW | (MNT_DETACH if lazy else 0)
    if libc().umount2(os.fsencode(target), flags) != 0:
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOENT):
            return  # not mounted (any more)
        if code == errno.EPERM and not os.path.ismount(target):
            return  # not root: nothing was mounted to undo
        if code == errno.EBUSY and not lazy:
            unmount(target, lazy=True)
            return
        raise OSError(code, os.strerror(code), str(target))


def is_mounted(target: Path) -> bool:
    """Whether ``target`` is a mount point (its device differs from its parent's)."""
    return os.path.ismount(target)


NEEDS_ROOT = "needs root; rootless mode is not supported yet"


def require_root(what: str) -> None:
    """Raise ContainerError (exit 125) saying ``what`` needs root, unless we may mount.

    Containers stand on overlayfs mounts, which an ordinary user may not make; asked first,
    so nothing is created that the failure would then have to undo."""
    if os.geteuid() != 0:
        raise ContainerError(f"{what} {NEEDS_ROOT}")


def mount_overlay(store: Store, layers: Sequence[Digest], upper: Path | None,
                  work: Path | None, target: Path, *, readonly: bool = False,
                  extra_top: Sequence[Path] = (), volatile: bool = False) -> None:
    """Mount the snapshots ``layers`` (bottom first) under ``upper`` at ``target``.

    ``extra_top``: directories stacked above the image's layers, topmost first (a container's
    init layer; for a read-only view, its upper directory too). Without ``upper`` the mount
    is read-only.

    ``volatile``: for a writable layer that is thrown away with the container (``--rm``, as
    podman does): overlayfs then skips its syncs, above all the one at unmount, which
    flushes the whole upper filesystem — every other writer's dirty data with it (1 to 50 ms
    per ``run --rm`` on a busy disk). A kernel without the option (before 5.10) mounts
    without it.
    """
    if not layers:
        raise ContainerError("an image without layers has no root filesystem to run")
    base = store.snapshots.root
    lowers = [os.path.relpath(p, base) for p in extra_top]
    for chain_id in reversed(layers):  # overlayfs lists the top layer first
        path = store.snapshots.path(chain_id)
        if not path.is_dir():
            raise ContainerError(f"layer {chain_id} is not unpacked in the store",
                                 hint="pull or load the image again")
        lowers.append(os.path.relpath(path, base))
    data = _options(lowers, upper, work)
    cwd = base
    if len(data) > MAX_MOUNT_DATA:
        cwd = _short_links(store, layers, target.parent / "lower")
        short = [str(p) for p in extra_top]
        short += [str(i) for i in range(len(layers) - 1, -1, -1)]
        data = _options(short, upper, work)
        if len(data) > MAX_MOUNT_DATA:
            raise ContainerError(f"an image of {len(layers)} layers is too deep to mount")
    flags = MS_RDONLY if readonly or upper is None else 0
    if volatile and upper is not None and len(data) + len(",volatile") <= MAX_MOUNT_DATA:
        try:
            _mount_in(cwd, target, flags, f"{data},volatile")
            return
        except ContainerError as exc:
            if not isinstance(exc.__cause__, OSError) or exc.__cause__.errno != errno.EINVAL:
                raise
    _mount_in(cwd, target, flags, data)


def _mount_in(cwd: Path, target: Path, flags: int, data: str) -> None:
    with _chdir_lock:
        # The process-wide working directory is the only way to give mount(2) relative paths.
        previous = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(cwd)
            mount("overlay", target, "overlay", flags, data)
        except OSError as exc:
            if exc.errno == errno.EPERM:  # root without CAP_SYS_ADMIN, or an unprivileged user
                raise ContainerError(f"mounting a container's root filesystem {NEEDS_ROOT}"
                                     ) from exc
            raise ContainerError(f"cannot mount the container's root filesystem: "
                                 f"{exc.strerror}") from exc
        finally:
            os.fchdir(previous)
            os.close(previous)


def _options(lowers: Sequence[str], upper: Path | None, work: Path | None) -> str:
    if upper is None or work is None:
        return f"lowerdir={':'.join(lowers)},{OVERLAY_OPTIONS}"
    return f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work},{OVERLAY_OPTIONS}"


def _short_links(store: Store, layers: Sequence[Digest], directory: Path) -> Path:
    """A directory of symlinks ``0``, ``1``, ... to the snapshots (bottom first)."""
    directory.mkdir(mode=0o700, exist_ok=True)
    for i, chain_id in enumerate(layers):
        link = directory / str(i)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(store.snapshots.path(chain_id))
    return directory
