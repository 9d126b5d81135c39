"""The directories from a tree walk's start down to where it is, with few of them open.

A walk that keeps a descriptor per level runs out of descriptors on a tree deeper than the
open-files limit (1,024 by default), and one that recurses runs out of stack at about 1,000
levels; layers and containers can nest directories far deeper. ``DirChain`` is the walk's
stack of directories: the start and the deepest ``window`` are open, those between are closed
as the walk goes down, and each is opened again through ".." when the walk climbs back to it,
after checking that it is the directory (device and inode) the walk came down from. Every
directory is opened at most twice: time and memory stay linear in the size of the tree, and
the descriptors bounded.
"""

from __future__ import annotations

import os
from typing import Final

from lamina.image._confine import open_dir

_DIR: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
WINDOW: Final = 64


class DirChain:
    """A stack of directories, each the previous one's child; the first is ``fd``, which the
    chain now owns (``close`` closes every descriptor it holds)."""

    def __init__(self, fd: int, *, window: int = WINDOW) -> None:
        st = os.fstat(fd)
        self._fds = [fd]
        self._idents = [(st.st_dev, st.st_ino)]
        self._window = max(1, window)
        self._low = 1  # levels 1 .. _low-1 are closed (-1), all others open

    def __len__(self) -> int:
        return len(self._fds)

    def top(self) -> int:
        """The top directory's descriptor (always open)."""
        return self._fds[-1]

    def push(self, name: str) -> int:
        """Open the top directory's child ``name`` (never following a symlink) as the new top;
        return its descriptor, valid until it is popped."""
        fd = open_dir(self._fds[-1], name)
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fds.append(fd)
        self._idents.append((st.st_dev, st.st_ino))
        if len(self._fds) - self._low > self._window:
            os.close(self._fds[self._low])
            self._fds[self._low] = -1
            self._low += 1
        return fd

    def pop(self) -> None:
        """Leave the top directory (closing it); its parent is the top again."""
        fd = self._fds.pop()
        self._idents.pop()
        try:
            depth = len(self._fds) - 1
            if depth > 0 and self._fds[depth] < 0:
                parent = os.open("..", _DIR, dir_fd=fd)
                st = os.fstat(parent)
                if (st.st_dev, st.st_ino) != self._idents[depth]:
                    os.close(parent)
                    raise OSError("a directory moved while it was being walked")
                self._fds[depth] = parent
                self._low = depth
        finally:
            os.close(fd)

    def close(self) -> None:
        for fd in self._fds:
            if fd >= 0:
                os.close(fd)
        self._fds, self._idents, self._low = [], [], 1
