"""Root filesystems as the builder sees them: a stack of unpacked layers, read as overlayfs
would merge them, and the new layer being written on top.

``MergedTree`` looks paths up through the layers (top first) with overlayfs' rules: a 0/0
character device is a whiteout, an opaque directory hides what is below it, a non-directory
hides everything below its path. Symlinks are resolved inside the tree, as if it were the root
(``resolve``): an absolute target starts again at the tree's root and ``..`` stops there, so no
path ever leads outside. Every access goes through directory descriptors opened with
``O_NOFOLLOW``, so a symlink in a layer is never followed on the host.

``UpperDir`` is the new layer: a fresh directory in the store's scratch area where COPY and ADD
put their files. It only creates entries below descriptors it opened itself, never following a
symlink, and creates missing parent directories with the metadata they have in the layers
below (so the layer carries them exactly as they were) or ``0755 root:root``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import BuildError
from lamina.image._confine import open_dir, open_dirs, resolve
from lamina.image.layer import clean_path, is_opaque

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Parts = tuple[str, ...]


def split_path(path: str) -> Parts:
    """The components of a path inside a root: ``..`` stops at the root."""
    return clean_path("/" + path, what="path")


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


@dataclass(frozen=True)
class Entry:
    """A path found in a tree: its components (symlinks resolved), layer and lstat."""

    parts: Parts
    layer: int
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


class MergedTree:
    """Layers stacked bottom first (``layers[0]`` is the lowest), read-only."""

    def __init__(self, layers: Sequence[Path], *, whiteouts: bool = True) -> None:
        self.layers = list(layers)
        self.whiteouts = whiteouts

    # --- lookup -------------------------------------------------------------------------
    def _in_layer(self, index: int, parts: Parts) -> tuple[str, os.stat_result | None]:
        """("found", st) | ("absent", None): look lower | ("hidden", None): stop looking."""
        try:
            fd = os.open(self.layers[index], _DIR)
        except FileNotFoundError:
            return "absent", None
        opaque = False
        try:
            for i, name in enumerate(parts):
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    return ("hidden" if opaque else "absent"), None
                if self.whiteouts and is_whiteout(st):
                    return "hidden", None
                if i == len(parts) - 1:
                    return "found", st
                if not stat.S_ISDIR(st.st_mode):
                    return "hidden", None
                sub = open_dir(fd, name)
                os.close(fd)
                fd = sub
                if self.whiteouts and is_opaque(fd):
                    opaque = True
            return "found", os.fstat(fd)
        finally:
            os.close(fd)

    def lstat(self, parts: Parts) -> Entry | None:
        """The entry at ``parts`` (no symlink followed), or None."""
        for index in range(len(self.layers) - 1, -1, -1):
            state, st = self._in_layer(index, parts)
            if state == "found":
                assert st is not None
                return Entry(parts, index, st)
            if state == "hidden":
                return None
        return None

    def resolve(self, path: str | Parts, *, follow_last: bool = True) -> Parts:
        """``path`` with every symlink in it resolved inside the tree (missing tails kept)."""

        def symlink(parts: Parts) -> str | None:
            entry = self.lstat(parts)
            if entry is None or not stat.S_ISLNK(entry.st.st_mode):
                return None
            return self.readlink(entry)

        return resolve(path, symlink, follow_last=follow_last, error=BuildError)

    def find(self, path: str | Parts, *, follow_last: bool = True) -> Entry | None:
        return self.lstat(self.resolve(path, follow_last=follow_last))

    # --- reading ------------------------------------------------------------------------
    @contextmanager
    def _parent_fd(self, entry: Entry) -> Iterator[int]:
        fd = open_dirs(self.layers[entry.layer], entry.parts[:-1])
        try:
            yield fd
        finally:
            os.close(fd)

    def readlink(self, entry: Entry) -> str:
        with self._parent_fd(entry) as fd:
            return os.readlink(entry.parts[-1], dir_fd=fd)

    def open_file(self, entry: Entry) -> int:
        """A descriptor of a regular file (the caller closes it)."""
        with self._parent_fd(entry) as fd:
            if not entry.parts:
                raise BuildError("cannot open the root as a file")
            return os.open(entry.parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)

    def listdir(self, parts: Parts) -> list[str]:
        """The merged names in a directory, sorted."""
        names: set[str] = set()
        gone: set[str] = set()
        for index in range(len(self.layers) - 1, -1, -1):
            state, st = self._in_layer(index, parts) if parts else ("found", None)
            if state == "hidden":
                break
            if state == "absent":
                continue
            if st is not None and not stat.S_ISDIR(st.st_mode):
                break
            fd = open_dirs(self.layers[index], parts)
            try:
                for name in os.listdir(fd):
                    if name in names or name in gone:
                        continue
                    if self.whiteouts:
                        child = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        if is_whiteout(child):
                            gone.add(name)
                            continue
                    names.add(name)
                if self.whiteouts and is_opaque(fd):
                    break
            finally:
                os.close(fd)
        return sorted(names, key=os.fsencode)


class UpperDir:
    """The new layer's directory; ``lower`` is what it sits on (for parents' metadata)."""

    def __init__(self, root: Path, lower: MergedTree) -> None:
        self.root = root
        self.lower = lower
        # The tree as it will be: the lower layers with this one on top.
        self.merged = MergedTree([*lower.layers, root])

    @contextmanager
    def directory(self, parts: Parts, owner: tuple[int, int] = (0, 0)) -> Iterator[int]:
        """A descriptor of the directory ``parts`` in the upper dir, made if missing.

        ``parts`` must already be resolved (``merged.resolve``): a component that is not a
        directory in the merged tree is an error, as docker reports it. Directories that are
        in no layer below are made ``0755`` and owned by ``owner``.
        """
        def make(fd: int, name: str, depth: int) -> int:
            return self._mkdir(fd, name, parts[: depth + 1], owner)

        def refuse(depth: int) -> BuildError:
            return BuildError(f"cannot copy to non-directory: /{'/'.join(parts[: depth + 1])}")

        fd = open_dirs(self.root, parts, make=make, refuse=refuse)
        try:
            yield fd
        finally:
            os.close(fd)

    def _mkdir(self, fd: int, name: str, here: Parts, owner: tuple[int, int]) -> int:
        below = self.lower.lstat(here)
        if below is not None and not below.is_dir:
            raise BuildError(f"cannot copy to non-directory: /{'/'.join(here)}")
        os.mkdir(name, 0o700, dir_fd=fd)
        sub = open_dir(fd, name)
        if below is not None:
            st = below.st
            os.fchown(sub, st.st_uid, st.st_gid)
            os.fchmod(sub, stat.S_IMODE(st.st_mode))
            os.utime(sub, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            os.fchown(sub, *owner)
            os.fchmod(sub, 0o755)
        return sub

    def is_empty(self) -> bool:
        return not os.listdir(self.root)
