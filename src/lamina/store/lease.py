"""The lease that keeps garbage collection away from content still being added.

Adding an image is several steps: blobs are ingested and layers unpacked first, and only then
does one transaction record the image that references them. In between, that content is
referenced by nothing, and a ``gc`` in another process would delete it. So a process that adds
content holds a *shared* ``flock`` on ``gc.lock`` while it does, and ``gc`` deletes files only
while it holds the *exclusive* lock. The kernel drops the lock of a process that dies.

A store takes the shared lock at its first write and keeps it until it is closed or released
(``hold``), unless the write happens inside a ``shared()`` block, which then scopes it: an
engine wraps a whole pull or load in one block, so the lock does not outlive the command's
writes (a long ``run`` after its pull must not hold gc off). ``exclusive()`` is for gc.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Lease:
    """Shared (writers) / exclusive (gc) lock over a store's content."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._depth = 0  # shared holds: scoped blocks plus 1 for a sticky hold
        self._sticky = False
        self._mutex = threading.RLock()

    def _open(self) -> int:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def _acquire_shared(self) -> None:
        with self._mutex:
            if self._depth == 0:
                fcntl.flock(self._open(), fcntl.LOCK_SH)
            self._depth += 1

    def _release_shared(self) -> None:
        with self._mutex:
            self._depth -= 1
            if self._depth == 0 and self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def hold(self) -> None:
        """Take the shared lock until ``release()``, unless a ``shared()`` block covers us."""
        with self._mutex:
            if not self._depth:
                self._acquire_shared()
                self._sticky = True

    def release(self) -> None:
        """Drop the lock taken by ``hold()``."""
        with self._mutex:
            if self._sticky:
                self._sticky = False
                self._release_shared()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self._acquire_shared()
        try:
            yield
        finally:
            self._release_shared()

    @contextmanager
    def exclusive(self, wait: float | None) -> Iterator[bool]:
        """Yield True with the exclusive lock held, or False if not had within ``wait`` s.

        ``wait=None`` waits as long as it takes. If this process holds the shared lock, it is
        converted (flock converts by dropping then re-taking) and restored afterwards.
        """
        with self._mutex:
            fd = self._open()
            got = _lock_exclusive(fd, wait)
            try:
                yield got
            finally:
                fcntl.flock(fd, fcntl.LOCK_SH if self._depth else fcntl.LOCK_UN)

    def close(self) -> None:
        with self._mutex:
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = -1
            self._depth = 0
            self._sticky = False


def _lock_exclusive(fd: int, wait: float | None) -> bool:
    if wait is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + wait
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
