"""The store's ``tmp/`` area: temporary files and directories for atomic writes.

Everything the store writes is first made here, on the same filesystem as its final place, and
renamed into place once complete, so a reader never sees a partial blob or snapshot.

Several lamina processes share one ``tmp/``. Use ``file()`` and ``directory()``: an entry made
otherwise (say by ``tempfile`` with ``dir=tmp/``) has no lock and is only cleaned after hours,
so make it inside a ``directory()`` instead. To tell an entry that is being written from one
left behind by a process that died (``kill -9``), its maker holds an ``flock`` on it for as long
as it uses it; the kernel drops that lock when the process dies. ``clean()`` removes exactly the
entries whose lock it can take. A maker checks, once it holds the lock, that its entry was not
removed by a cleaner in between (its link count is then 0), and starts again if it was.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from lamina.errors import StorageError

# Names made by this module; others' temporary files (tempfile.mkdtemp(dir=tmp/)) carry no
# lock, so they are only removed once clearly abandoned.
_OURS = re.compile(r"[a-z]+-[0-9]+-[0-9a-f]{16}")
FOREIGN_MAX_AGE = 6 * 3600
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


class ScratchFile:
    """A locked temporary file: ``fd`` is open for writing, ``path`` names it in ``tmp/``."""

    __slots__ = ("fd", "path")

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def close(self) -> None:
        """Close the descriptor (which releases the lock) without removing the file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        """Remove the file (if still there) and close it."""
        with suppress(FileNotFoundError):
            os.unlink(self.path)
        self.close()


class Scratch:
    """The ``tmp/`` directory of a store."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self, prefix: str) -> ScratchFile:
        """A new, empty, locked file in ``tmp/``."""
        while True:
            path = self.path / f"{prefix}-{os.getpid()}-{os.urandom(8).hex()}"
            try:
                fd = os.open(path, _OPEN_FLAGS, 0o600)
            except FileExistsError:
                continue
            except OSError as err:
                raise StorageError(f"cannot create a temporary file in {self.path}: {err}") from err
            if _lock_and_check(fd):
                return ScratchFile(fd, path)

    @contextmanager
    def directory(self, prefix: str) -> Iterator[Path]:
        """A new, locked, empty directory in ``tmp/``; removed on exit unless renamed away.

        The lock lives on the directory's inode, so it follows the directory if the caller
        renames it into its final place inside the block.
        """
        while True:
            path = self.path / f"{prefix}-{os.getpid()}-{os.urandom(8).hex()}"
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError as err:
                raise StorageError(
                    f"cannot create a temporary directory in {self.path}: {err}"
                ) from err
            try:
                fd = os.open(path, _DIR_FLAGS)
            except FileNotFoundError:
                continue  # a cleaner took it between our mkdir and our lock: again
            if _lock_and_check(fd):
                break
        try:
            yield path
        finally:
            try:
                if same_inode(path, fd):
                    remove_tree(path)
            finally:
                os.close(fd)

    def is_empty(self) -> bool:
        try:
            with os.scandir(self.path) as entries:
                return next(entries, None) is None
        except FileNotFoundError:
            return True

    def clean(self) -> int:
        """Remove what dead processes left in ``tmp/``; return how many entries went."""
        removed = 0
        try:
            with os.scandir(self.path) as it:
                names = [entry.name for entry in it]
        except FileNotFoundError:
            return 0
        for name in names:
            path = self.path / name
            if not _OURS.fullmatch(name):
                removed += _clean_foreign(path)
                continue
            try:
                mode = os.lstat(path).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    os.unlink(path)  # a symlink, fifo or socket: never ours, never opened
                    removed += 1
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
            except FileNotFoundError:
                continue  # renamed into place or removed by its maker meanwhile
            except OSError as err:
                raise StorageError(f"cannot open {path} to clean it: {err}") from err
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process is using it
                # The lock is ours: its maker is gone. Remove it while holding the lock, so a
                # maker that just created it sees a link count of 0 and starts over.
                if same_inode(path, fd):
                    remove_tree(path)
                    removed += 1
            finally:
                os.close(fd)
        return removed


def _clean_foreign(path: Path) -> int:
    """Remove an entry not made by Scratch if nothing touched it for FOREIGN_MAX_AGE."""
    try:
        age = time.time() - os.lstat(path).st_mtime
    except FileNotFoundError:
        return 0
    if age < FOREIGN_MAX_AGE:
        return 0
    remove_tree(path)
    return 1


def _lock_and_check(fd: int) -> bool:
    """Lock ``fd`` and tell whether its entry still exists (a cleaner may have removed it)."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    if os.fstat(fd).st_nlink == 0:
        os.close(fd)
        return False
    return True


def same_inode(path: Path, fd: int) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def remove_tree(path: Path | str) -> None:
    """Remove a file or a directory tree, however deep and whatever its modes."""
    parent = os.open(os.path.dirname(os.path.abspath(path)), _DIR)
    try:
        remove_tree_at(parent, os.path.basename(os.path.abspath(path)))
    finally:
        os.close(parent)


def remove_tree_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` in the directory ``dir_fd``, and all below it if it is a directory.

    Iterative, through directory fds, one level open at a time: a layer or a container can
    make a tree deeper than Python's recursion limit, than PATH_MAX, or than the open-files
    limit. Never follows a symlink, and makes directories writable first: an unpacked layer
    may hold directories with mode 0555 or 0000 that a non-root user could not otherwise empty.
    """
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        _unlink(name, dir_fd)
        return
    names: list[str] = []  # the path from ``name`` down to the directory ``fd`` is
    fd = _open_dir(dir_fd, name)
    while True:
        child = None
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    child = entry.name
                    break
                _unlink(entry.name, fd)
        if child is not None:
            deeper = _open_dir(fd, child)
            os.close(fd)
            fd = deeper
            names.append(child)
            continue
        if not names:  # ``name`` itself is empty now
            os.close(fd)
            with suppress(FileNotFoundError):
                os.rmdir(name, dir_fd=dir_fd)
            return
        parent = os.open("..", _DIR, dir_fd=fd)
        os.close(fd)
        with suppress(FileNotFoundError):
            os.rmdir(names.pop(), dir_fd=parent)
        fd = parent


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(dir_fd: int, name: str) -> int:
    """The directory, opened, and (unless we are root) writable by us, its owner."""
    try:
        fd = os.open(name, _DIR, dir_fd=dir_fd)
    except PermissionError:  # no access for its owner, us
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        os.chmod(name, (mode & 0o7777) | 0o700, dir_fd=dir_fd)
        fd = os.open(name, _DIR, dir_fd=dir_fd)
    if os.geteuid() != 0:
        mode = os.fstat(fd).st_mode
        if mode & 0o700 != 0o700:
            os.fchmod(fd, (mode & 0o7777) | 0o700)
    return fd


def _unlink(name: str, dir_fd: int) -> None:
    with suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
