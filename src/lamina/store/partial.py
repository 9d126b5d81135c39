"""Blobs being downloaded, kept in ``tmp/`` under their digest so a later pull can resume them.

``tmp/partial-<alg>-<hex>`` holds the first bytes of a blob. Its maker holds an exclusive
``flock`` on it while it writes (scratch's discipline: the kernel drops the lock if the process
dies), so two pulls never write one file; the second pull of a blob that is being downloaded
writes a private scratch file instead. The name is not one of ``Scratch``'s own, so its cleaner
keeps it for hours (a resumable download), then removes it.

Every byte is hashed on its way in, the bytes already there included (they are read back to be
unpacked anyway); ``commit`` checks size and digest before the blob is renamed into place.

The bytes go to the file with direct I/O (``O_DIRECT``), in 1 MiB blocks written by a thread of
the blob's own while the next block fills: the blob must be on disk before it is committed
anyway, and this way it never passes through the page cache. Copying it there costs CPU the
pull is short of (bench/pull.py, big image, 197 MB of blobs: ~0.4 s of system time when the
kernel hands out fresh pages), and the fsync before the rename would then wait for the
writeback of the whole blob. A file system that refuses direct I/O gets ordinary writes, from
the same thread. What the thread has not written when the process dies is downloaded again.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import queue
import threading
from collections.abc import Iterator

from lamina.errors import IntegrityError, StorageError
from lamina.model.digest import Digest, Hasher
from lamina.store.blobs import CHUNK, BlobStore, fsync_directory
from lamina.store.scratch import Scratch

PREFIX = "partial"
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
BLOCK = 1 << 20  # bytes handed to the writer thread at a time
ALIGN = 4096  # of offsets and lengths for O_DIRECT (any block size up to a page)


class PartialBlob:
    """A resumable download of blob ``digest`` of ``size`` bytes.

    Read ``existing()`` first (the bytes a previous attempt left, ``offset`` of them), then
    ``write()`` the rest as it arrives; ``commit()`` or, on failure, ``keep()`` (resumable:
    the network failed) or ``discard()`` (the content was wrong).
    """

    def __init__(self, blobs: BlobStore, scratch: Scratch, digest: Digest, size: int, *,
                 what: str) -> None:
        self._blobs = blobs
        self.digest = digest
        self.size = size
        self.what = what
        self._hasher = Hasher(digest.algorithm)
        blobs.path(digest)  # validates the digest: it becomes a file name
        self.path = scratch.path / f"{PREFIX}-{digest.algorithm}-{digest.hex}"
        self.resumable = True
        self.fd = self._open_shared_name()
        if self.fd < 0:  # another process is downloading it: ours is private
            self.resumable = False
            scratch_file = scratch.file("blob")
            self.fd, self.path = scratch_file.fd, scratch_file.path
        length = os.fstat(self.fd).st_size
        if length > size:
            os.ftruncate(self.fd, 0)
            length = 0
        self.offset = length
        self._written = length
        self._writer: _Writer | None = None

    def _open_shared_name(self) -> int:
        while True:
            try:
                fd = os.open(self.path, _FLAGS, 0o600)
            except OSError as err:
                raise StorageError(f"cannot create {self.path}: {err}") from err
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return -1
            if os.fstat(fd).st_nlink:
                return fd
            os.close(fd)  # removed by a cleaner between open and lock: again

    def existing(self) -> Iterator[bytes]:
        """The bytes already downloaded, hashed on the way."""
        position = 0
        while position < self.offset:
            data = os.pread(self.fd, min(CHUNK, self.offset - position), position)
            if not data:
                raise StorageError(f"{self.what}: {self.path} shrank while being read")
            position += len(data)
            self._hasher.update(data)
            yield data

    def write(self, data: bytes | memoryview) -> None:
        if self._written + len(data) > self.size:
            raise IntegrityError(f"{self.what}: more than the expected {self.size} bytes")
        self._hasher.update(data)
        if self._writer is None:  # after ``existing``: no more reads of the file
            self._writer = _Writer(self.fd, self._written, what=f"{self.what}: {self.path}")
        self._writer.write(data)
        self._written += len(data)

    def _flush(self) -> None:
        """Wait until every byte received is in the file (and the writer thread is gone)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.finish()

    @property
    def received(self) -> int:
        return self._written

    def verify(self) -> None:
        """Raise IntegrityError unless every byte is here and they hash to the digest."""
        self._hasher.verify(self.digest, self.size, what=self.what)

    def commit(self) -> Digest:
        """Verify, make durable and move into ``blobs/``; the partial file is gone after."""
        if self.fd < 0:
            raise StorageError(f"{self.what}: commit after close")
        try:
            self.verify()
        except IntegrityError:
            self.discard()
            raise
        final = self._blobs.path(self.digest)
        try:
            self._flush()
        except StorageError:
            self.discard()
            raise
        try:
            os.fsync(self.fd)
            os.fchmod(self.fd, 0o644)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, final)
        except OSError as err:
            self.discard()
            raise StorageError(f"{self.what}: cannot store blob {self.digest}: {err}") from err
        fsync_directory(final.parent)
        self._close()
        return self.digest

    def keep(self) -> None:
        """Leave what was received for the next attempt (a private file is removed)."""
        if not self.resumable:
            self.discard()
            return
        try:
            self._flush()
        except StorageError:  # the disk failed: nothing worth resuming
            self.discard()
            return
        self._close()

    def discard(self) -> None:
        if self.fd < 0:
            return  # closed: the name may be another process's by now
        try:
            os.unlink(self.path)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise StorageError(f"cannot remove {self.path}: {err}") from err
        self._close()

    def _close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.stop()
        if self.fd >= 0:
            os.close(self.fd)  # releases the lock
            self.fd = -1


class _Writer:
    """Writes what it is given to ``fd`` from ``offset`` on, a block at a time, in a thread.

    Two page-aligned blocks take turns: one fills while the thread writes the other. Blocks
    go out with ``O_DIRECT`` when offset and length allow it (all but a resumed download's
    first block and the last one) and the file system takes it, else through the page cache.
    A failed write is raised by the next ``write`` or by ``finish``.
    """

    def __init__(self, fd: int, offset: int, *, what: str) -> None:
        self._fd = fd
        self._what = what
        self._offset = offset  # where the filling block starts
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        for _ in range(2):
            self._free.put(mmap.mmap(-1, BLOCK))
        self._block: mmap.mmap | None = None
        self._fill = 0
        self._jobs: queue.SimpleQueue[tuple[mmap.mmap, int, int] | None] = queue.SimpleQueue()
        self._error: OSError | None = None
        self._direct = False
        self._can_direct = True
        self._thread = threading.Thread(target=self._run, name="blob-writer", daemon=True)
        self._thread.start()

    def write(self, data: bytes | memoryview) -> None:
        self._check()
        view = memoryview(data)
        while view:
            block = self._block
            if block is None:
                block = self._block = self._free.get()
            k = min(len(view), BLOCK - self._fill)
            block[self._fill : self._fill + k] = view[:k]
            self._fill += k
            view = view[k:]
            if self._fill == BLOCK:
                self._submit(final=False)

    def _submit(self, *, final: bool) -> None:
        """Hand the filling block to the thread: all of it if ``final``, else up to an aligned
        file offset (the few bytes after it start the next block)."""
        block, fill = self._block, self._fill
        assert block is not None
        n = fill if final else fill - (self._offset + fill) % ALIGN
        rest = fill - n
        self._block, self._fill = None, 0
        if rest:
            nxt = self._block = self._free.get()
            nxt[:rest] = block[n:fill]
            self._fill = rest
        self._jobs.put((block, n, self._offset))
        self._offset += n

    def finish(self) -> None:
        """Write what is left and wait for it; raise StorageError if any write failed."""
        if self._fill:
            self._submit(final=True)
        self.stop()
        self._check()

    def stop(self) -> None:
        """End the thread once the blocks handed to it are written (not the filling one)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _check(self) -> None:
        if self._error is not None:
            raise StorageError(f"{self._what}: cannot write: {self._error}") from self._error

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            block, n, offset = job
            try:
                if self._error is None:
                    self._pwrite(block, n, offset)
            except OSError as err:
                self._error = err
            finally:
                self._free.put(block)

    def _pwrite(self, block: mmap.mmap, n: int, offset: int) -> None:
        want = self._can_direct and not (offset % ALIGN or n % ALIGN)
        if want != self._direct:
            self._direct = _set_direct(self._fd, want)
            self._can_direct = self._direct or not want
        with memoryview(block) as view:
            done = 0
            while done < n:
                try:
                    done += os.pwrite(self._fd, view[done:n], offset + done)
                except OSError as err:
                    if not (self._direct and err.errno == errno.EINVAL):
                        raise
                    # O_DIRECT taken, but not at this alignment: the page cache from now on.
                    self._direct = self._can_direct = _set_direct(self._fd, False)


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; whether it is on now (a file system may refuse)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return on
