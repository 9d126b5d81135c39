"""Copying files from a tree (the build context, another stage, an unpacked archive) into the
new layer of a COPY or ADD step.

Sources are read through ``MergedTree`` and written into ``UpperDir`` below descriptors it
opened, never following a symlink on either side. Ownership is ``--chown``'s, else 0:0 for the
build context and the source's own for other stages and archives; modes are ``--chmod``'s or
the source's; modification times and the xattrs a layer may carry (file capabilities, ACLs,
``user.*``) are kept (``SOURCE_DATE_EPOCH`` clamps the times later).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from lamina.build.rootfs import Entry, MergedTree, Parts, UpperDir
from lamina.errors import BuildError
from lamina.image._confine import open_dir
from lamina.image.layer import read_xattrs

_CHUNK = 1 << 20

Include = Callable[[Parts], bool]


@dataclass(frozen=True)
class CopyOptions:
    owner: tuple[int, int] | None = None  # None: keep the source's
    chmod: int | None = None
    include: Include | None = None  # .dockerignore, on source paths
    # Exceptions (!pattern) may bring back files below an ignored directory: look inside.
    descend_excluded: bool = False


class Copier:
    def __init__(self, upper: UpperDir, options: CopyOptions) -> None:
        self.upper = upper
        self.options = options
        # Files with several links, by source inode: where the first copy went.
        self._links: dict[tuple[int, int], Parts] = {}

    def copy(self, tree: MergedTree, entry: Entry, dest: Parts, *, contents_only: bool) -> None:
        """Copy ``entry`` to ``dest`` (resolved); a directory's contents if ``contents_only``."""
        if not dest:
            if not entry.is_dir:
                raise BuildError("cannot copy a file to the root directory itself")
            contents_only = True
        parents = self.options.owner or (0, 0)
        if entry.is_dir and contents_only:
            # The destination keeps its mode and owner, or is made 0755 (and --chown's owner)
            # as buildah does: the source directory's own metadata is not copied.
            with self.upper.directory(dest, parents) as fd:
                self._children(tree, entry.parts, fd, dest)
            return
        with self.upper.directory(dest[:-1], parents) as parent:
            self._entry(tree, entry, parent, dest)

    def _owner(self, st: os.stat_result) -> tuple[int, int]:
        return self.options.owner if self.options.owner is not None else (st.st_uid, st.st_gid)

    def _mode(self, st: os.stat_result) -> int:
        if self.options.chmod is not None:
            return self.options.chmod
        return stat.S_IMODE(st.st_mode)

    def _children(self, tree: MergedTree, parts: Parts, fd: int, dest: Parts) -> None:
        include = self.options.include
        for name in tree.listdir(parts):
            child = (*parts, name)
            entry = tree.lstat(child)
            if entry is None:
                continue
            if include is not None and not include(child):
                if entry.is_dir and self.options.descend_excluded:
                    self._excluded_dir(tree, entry, fd, (*dest, name))
                continue
            self._entry(tree, entry, fd, (*dest, name))

    def _excluded_dir(self, tree: MergedTree, entry: Entry, parent: int, dest: Parts) -> None:
        """An ignored directory, kept only if files below it are brought back."""
        name = dest[-1]
        fd = self._make_dir(parent, name)
        try:
            self._children(tree, entry.parts, fd, dest)
            empty = not os.listdir(fd)
            if not empty:
                self._finish(fd, entry.st)
        finally:
            os.close(fd)
        if empty:
            os.rmdir(name, dir_fd=parent)

    def _entry(self, tree: MergedTree, entry: Entry, parent: int, dest: Parts) -> None:
        st = entry.st
        mode = st.st_mode
        name = dest[-1]
        if stat.S_ISDIR(mode):
            fd = self._make_dir(parent, name)
            try:
                self._children(tree, entry.parts, fd, dest)
                self._finish(fd, st)
            finally:
                os.close(fd)
            return
        _remove(parent, name)
        uid, gid = self._owner(st)
        if st.st_nlink > 1 and not stat.S_ISLNK(mode):
            first = self._links.get((st.st_dev, st.st_ino))
            if first is not None:
                with self.upper.directory(first[:-1]) as fd:
                    os.link(first[-1], name, src_dir_fd=fd, dst_dir_fd=parent,
                            follow_symlinks=False)
                return
            self._links[(st.st_dev, st.st_ino)] = dest
        if stat.S_ISREG(mode):
            src = tree.open_file(entry)
            try:
                dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o600, dir_fd=parent)
                try:
                    _copy_data(src, dst)
                    for key, value in read_xattrs(src).items():
                        os.setxattr(dst, key, value)
                    self._finish(dst, st)
                finally:
                    os.close(dst)
            finally:
                os.close(src)
        elif stat.S_ISLNK(mode):
            target = tree.readlink(entry)
            os.symlink(target, name, dir_fd=parent)
            os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=parent,
                     follow_symlinks=False)
        elif stat.S_ISSOCK(mode):
            return
        else:
            os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=parent)
            os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(name, self._mode(st), dir_fd=parent, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=parent,
                     follow_symlinks=False)

    def _make_dir(self, parent: int, name: str) -> int:
        try:
            return open_dir(parent, name)
        except FileNotFoundError:
            pass
        except OSError:
            _remove(parent, name)  # a file or symlink of this layer where a directory goes
        os.mkdir(name, 0o700, dir_fd=parent)
        return open_dir(parent, name)

    def _finish(self, fd: int, st: os.stat_result) -> None:
        uid, gid = self._owner(st)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, self._mode(st))
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _remove(parent: int, name: str) -> None:
    """Make room for a new non-directory ``name`` (an earlier one of this same layer)."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise BuildError(f"cannot replace directory {name!r} with a non-directory")
    os.unlink(name, dir_fd=parent)


def _copy_data(src: int, dst: int) -> None:
    try:
        while os.copy_file_range(src, dst, _CHUNK):
            pass
        return
    except OSError:
        os.lseek(src, 0, os.SEEK_SET)
        os.lseek(dst, 0, os.SEEK_SET)
        os.ftruncate(dst, 0)
    while data := os.read(src, _CHUNK):
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view):]


def write_file(upper: UpperDir, dest: Parts, data: bytes, *, owner: tuple[int, int],
               mode: int, mtime_ns: int | None = None) -> None:
    """A new file with ``data`` (COPY's heredocs)."""
    if not dest:
        raise BuildError("cannot write a file to the root directory itself")
    with upper.directory(dest[:-1], owner) as parent:
        _remove(parent, dest[-1])
        fd = os.open(dest[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600, dir_fd=parent)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchown(fd, *owner)
            os.fchmod(fd, mode)
            if mtime_ns is not None:
                os.utime(fd, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(fd)


def make_dir(upper: UpperDir, dest: Parts, *, owner: tuple[int, int] | None = None) -> None:
    """Create ``dest`` and its missing parents (WORKDIR), owned by ``owner`` (the USER)."""
    with upper.directory(dest, owner or (0, 0)):
        pass
