"""Resolving and opening paths inside a root, and nowhere else: lamina's one implementation.

Every path an image or a container names is hostile: a layer can make ``/etc/passwd`` a
symlink to the host's ``/etc/shadow``, or a directory a symlink to ``/``. Paths are resolved
as if the root were ``/``: ``..`` stops at the root, an absolute symlink target starts again
from the root, at most ``MAX_SYMLINKS`` links are followed (Linux's own bound), and a
component swapped for a symlink while we look is never followed on the host.

- ``open_in_root``: ``openat2(2)`` with ``RESOLVE_IN_ROOT`` (and no magic links) where the
  kernel has it (5.6+); the walker below where it does not (or a seccomp filter refuses it).
- ``walk``: the walker, one component at a time through directory descriptors opened with
  ``O_NOFOLLOW``; it can also make missing directories, and keep missing tails (docker makes
  a missing WorkingDir).
- ``open_dir``/``open_dirs``: a directory, or a chain of them, opened without following any
  symlink at all (a layer's own directories, a build's upper directory, each step down of a
  tree walk's ``DirChain``).
- ``resolve``: the same resolution over any tree that can say what is a symlink: the adapter
  for a stack of layers (``lamina.build.rootfs.MergedTree``) uses it.

Private to lamina: the runtime (``rootpath``: run, exec, cp), the builder (``rootfs``,
``copier``: the context, COPY and ADD) and the tree walks (``dirchain``) use it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from lamina.errors import LaminaError

T = TypeVar("T")

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 40

_SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall table split)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class _Openat2:
    """The syscall, or None once the kernel (or a seccomp filter) has said it lacks it.
    (ctypes is loaded on the first call only: the extractor's walks never need it.)"""

    available: bool | None = None  # None: not tried yet
    _libc: Any = None
    _how: Any = None  # struct open_how: u64 flags, mode, resolve

    @classmethod
    def call(cls, dirfd: int, path: str, flags: int) -> int | None:
        if cls.available is False:
            return None
        import ctypes

        if cls._libc is None:
            cls._libc = ctypes.CDLL(None, use_errno=True)
            cls._how = ctypes.c_uint64 * 3
        how = cls._how(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        fd = cls._libc.syscall(_SYS_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how),
                               ctypes.sizeof(how))
        if fd >= 0:
            cls.available = True
            return int(fd)
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EPERM) and not cls.available:
            cls.available = False  # no openat2 here: the walker from now on
            return None
        if code == errno.EAGAIN:  # RESOLVE_IN_ROOT raced a rename of ".."; the walker
            return None
        raise OSError(code, os.strerror(code), path)


def use_openat2(enabled: bool | None) -> None:
    """Force the walker (False), or let openat2 be tried again (None): for tests."""
    _Openat2.available = False if enabled is False else None


def split(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def open_in_root(root_fd: int, path: str, flags: int, *, error: type[LaminaError],
                 regular_only: bool = False) -> int:
    """An fd on the existing file ``path`` inside the root (its final symlink followed,
    inside the root too); ``regular_only``: anything but a regular file is ENOENT, and is
    never opened for real (an image's device node must not be: a host disk, a watchdog)."""
    if regular_only:
        fd = open_in_root(root_fd, path, os.O_PATH, error=error)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileNotFoundError(errno.ENOENT, "not a regular file in the root", path)
            # The O_PATH descriptor names the very file found: reopen that, not the path.
            return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)
        finally:
            os.close(fd)
    opened = _Openat2.call(root_fd, path, flags)
    if opened is not None:
        return opened
    parts, parent = walk(root_fd, path, follow_last=True, create=False, keep_parent=True,
                         error=error)
    name = parts[-1] if parts else "."
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    finally:
        os.close(parent)


def walk(root_fd: int, path: str, *, follow_last: bool, create: bool, error: type[LaminaError],
         keep_parent: bool = False, mode: int = 0o755,
         owner: tuple[int, int] = (0, 0)) -> tuple[list[str], int]:
    """Walk ``path`` from the root; return the resolved components.

    With ``keep_parent`` the fd of the directory holding the last component is returned open
    (the caller closes it), else -1. Without ``create``, components after a missing one are
    taken literally; with it, they are made as directories (``mode``, owned by ``owner``).
    """
    pending = split(path)
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
                    raise error(f"{path}: too many levels of symbolic links")
                target = os.readlink(name, dir_fd=fds[-1])
                if target.startswith("/"):
                    for fd in fds[1:]:
                        os.close(fd)
                    del fds[1:]
                    resolved.clear()
                pending[:0] = split(target)
                continue
            resolved.append(name)
            if stat.S_ISDIR(st.st_mode):
                if not last or create:
                    fds.append(os.open(name, DIR_FLAGS, dir_fd=fds[-1]))
            elif create or not last:
                raise error(f"{path}: not a directory in the image")
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


def open_dir(parent: int, name: str, *, make: Callable[[int, str], int] | None = None,
             refuse: Callable[[], BaseException] | None = None, path_only: bool = False
             ) -> int:
    """The directory ``name`` in ``parent``, opened without following a symlink (a symlink
    or a file there is ENOTDIR/ELOOP, never followed): one step of every walk below a root.
    ``make(parent, name)``, if given, makes it when missing and returns its fd; ``refuse()``,
    if given, is the error to raise when it is no directory. ``path_only``: an ``O_PATH``
    descriptor (for ``*at`` calls only; it cannot be read)."""
    try:
        return os.open(name, _PATH_FLAGS if path_only else DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if make is None:
            raise
        return make(parent, name)
    except OSError as exc:
        if refuse is not None and exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise refuse() from None
        raise


def open_dirs(root: int | str | os.PathLike[str], parts: Sequence[str], *,
              make: Callable[[int, str, int], int] | None = None,
              refuse: Callable[[int], BaseException] | None = None) -> int:
    """The directory ``parts`` below ``root``, each component opened with ``open_dir``.
    ``make(parent_fd, name, depth)`` makes a missing one; ``refuse(depth)`` is the error for
    one that is no directory."""
    fd = os.dup(root) if isinstance(root, int) else os.open(root, DIR_FLAGS)
    try:
        for depth, name in enumerate(parts):
            sub = open_dir(fd, name, make=_at(make, depth), refuse=_at(refuse, depth))
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def _at(fn: Callable[..., T] | None, depth: int) -> Callable[..., T] | None:
    """``fn`` with ``depth`` as its last argument."""
    if fn is None:
        return None
    return lambda *args: fn(*args, depth)


def resolve(path: str | Sequence[str], symlink: Callable[[tuple[str, ...]], str | None], *,
            follow_last: bool, error: type[LaminaError]) -> tuple[str, ...]:
    """``path`` with every symlink in it resolved inside the root of a tree that says, for a
    path, the target of the symlink there (None: not a symlink, or nothing there); missing
    tails are kept. For trees that are no single directory: a stack of layers."""
    queue = list(split(path) if isinstance(path, str) else path)
    queue.reverse()
    resolved: list[str] = []
    links = 0
    while queue:
        name = queue.pop()
        if name in ("", "."):
            continue
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = (*resolved, name)
        target = symlink(candidate) if (queue or follow_last) else None
        if target is not None:
            links += 1
            if links > MAX_SYMLINKS:
                raise error(f"too many levels of symbolic links: /{'/'.join(candidate)}")
            if target.startswith("/"):
                resolved = []
            queue.extend(reversed(target.split("/")))
            continue
        resolved.append(name)
    return tuple(resolved)
