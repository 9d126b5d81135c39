"""File data written with direct I/O by a thread of its own, while the caller goes on.

Blobs and large unpacked files must be on disk before the store records them anyway (fsync,
syncfs). Written the ordinary way, their bytes are first copied into the page cache, which
costs CPU that a pull is short of (on this project's 2-core test machine, ~2 ms a MB when the
kernel hands out fresh pages), and the final flush then waits for their writeback. With
``O_DIRECT`` the disk takes them from our own page-aligned blocks; a thread does the writing,
so the caller (downloading, unpacking) never waits for the disk unless it gets two blocks ahead.

A ``DirectWriter`` owns the thread and a few 1 MiB blocks; ``open`` gives a ``DirectFile`` that
takes a file's bytes in order. Whole aligned blocks go out with ``O_DIRECT``, where the file
system allows it; the rest (a resumed download's first block, a file's tail) through the page
cache. Jobs run in the order given, one file after another. A failed job is raised by the next
call that hands the writer something, or by ``finish``; the jobs after it only close files.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from lamina.model.digest import Hasher

BLOCK: Final = 1 << 20
ALIGN: Final = 4096  # of offsets and lengths for O_DIRECT (any logical block size up to a page)

_Job = tuple["DirectFile", mmap.mmap | None, int, int, Callable[[], None] | None]


class DirectWriteError(Exception):
    """A job of the writer failed: ``what`` it was about, and the error (``__cause__``)."""

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(what)
        self.what = what
        self.error = error


class DirectWriter:
    """The writing thread and its blocks (``blocks`` of them: how far callers may get ahead)."""

    def __init__(self, *, blocks: int = 2, name: str = "direct-writer") -> None:
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        for _ in range(blocks):
            self._free.put(mmap.mmap(-1, BLOCK))  # page-aligned, as O_DIRECT wants
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._failed: DirectWriteError | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def open(self, fd: int, offset: int = 0, *, what: str, close: bool = False,
             hasher: Hasher | None = None) -> DirectFile:
        """A file to write from ``offset`` on; with ``close``, the writer closes ``fd`` after
        the file's last job (whatever happened), and the caller must not touch it again.
        With ``hasher``, the writer thread also hashes the bytes, in order, as it writes them
        (hashing a download there takes it off the thread that decompresses it)."""
        self.check()
        return DirectFile(self, fd, offset, what, close, hasher)

    def check(self) -> None:
        """Raise DirectWriteError if a job failed."""
        if self._failed is not None:
            raise self._failed

    def finish(self) -> None:
        """Wait for every job handed over; raise DirectWriteError if one failed."""
        self.stop()
        self.check()

    def stop(self) -> None:
        """End the thread once the jobs handed over are done (files still open are closed)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _block(self) -> mmap.mmap:
        return self._free.get()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            file, block, n, offset, then = job
            try:
                if self._failed is None:
                    if block is not None:
                        file._pwrite(block, n, offset)
                    if then is not None:
                        then()
            except Exception as err:  # raised to the caller by check()
                self._fail(file, err)
            finally:
                if block is not None:
                    self._free.put(block)
                if then is not None and file.close_fd:
                    try:
                        os.close(file.fd)
                    except OSError as err:  # EIO from a flush on close: the data is not safe
                        self._fail(file, err)

    def _fail(self, file: DirectFile, err: Exception) -> None:
        if self._failed is None:
            self._failed = DirectWriteError(file.what, err)
            self._failed.__cause__ = err


class DirectFile:
    """One file's bytes, in order, to a ``DirectWriter``; ``close`` after the last."""

    def __init__(self, writer: DirectWriter, fd: int, offset: int, what: str,
                 close_fd: bool, hasher: Hasher | None) -> None:
        self.fd = fd
        self.what = what
        self.close_fd = close_fd
        self.hasher = hasher
        self._writer = writer
        self._offset = offset  # where the filling block starts in the file
        self._block: mmap.mmap | None = None
        self._fill = 0
        self._closed = False
        # Touched by the writer thread only:
        self._direct = False
        self._can_direct = True

    def write(self, data: bytes | memoryview) -> None:
        writer = self._writer
        writer.check()
        view = memoryview(data)
        while view:
            block = self._block
            if block is None:
                block = self._block = writer._block()
            k = min(len(view), BLOCK - self._fill)
            block[self._fill : self._fill + k] = view[:k]
            self._fill += k
            view = view[k:]
            if self._fill == BLOCK:
                self._submit(final=False, then=None)

    def close(self, then: Callable[[], None] | None = None) -> None:
        """Hand over the last bytes, then ``then`` (run by the writer after them: setting
        times, say, which a later write would change)."""
        if self._closed:
            return
        self._closed = True
        self._submit(final=True, then=then or _nothing)

    def _submit(self, *, final: bool, then: Callable[[], None] | None) -> None:
        """Hand the filling block over: all of it if ``final``, else up to an aligned file
        offset (the few bytes after it start the next block)."""
        block, fill = self._block, self._fill
        self._block, self._fill = None, 0
        if block is None:
            self._writer._jobs.put((self, None, 0, self._offset, then))
            return
        n = fill if final else fill - (self._offset + fill) % ALIGN
        if fill > n:
            nxt = self._block = self._writer._block()
            nxt[: fill - n] = block[n:fill]
            self._fill = fill - n
        self._writer._jobs.put((self, block, n, self._offset, then))
        self._offset += n

    def _pwrite(self, block: mmap.mmap, n: int, offset: int) -> None:
        want = self._can_direct and not (offset % ALIGN or n % ALIGN)
        if want != self._direct:
            self._direct = _set_direct(self.fd, want)
            self._can_direct = self._direct or not want
        with memoryview(block) as view:
            if self.hasher is not None:
                self.hasher.update(view[:n])
            done = 0
            while done < n:
                try:
                    done += os.pwrite(self.fd, view[done:n], offset + done)
                except OSError as err:
                    if not (self._direct and err.errno == errno.EINVAL):
                        raise
                    # O_DIRECT taken, but not at this alignment: the page cache from now on.
                    self._direct = self._can_direct = _set_direct(self.fd, False)


def _nothing() -> None:
    """What a file's close runs when told nothing."""


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; whether it is on now (a file system may refuse)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return on


__all__ = ["ALIGN", "BLOCK", "DirectFile", "DirectWriteError", "DirectWriter"]
