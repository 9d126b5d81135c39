"""Blobs being downloaded, kept in ``tmp/`` under their digest so a later pull can resume them.

``tmp/partial-<alg>-<hex>`` holds the first bytes of a blob. Its maker holds an exclusive
``flock`` on it while it writes (scratch's discipline: the kernel drops the lock if the process
dies), and uses the file only if, once locked, the name still leads to the inode it opened; so
two pulls never write one file, and a pull never takes up a file another one has committed; the second pull of a blob that is being downloaded
writes a private scratch file instead. The name is not one of ``Scratch``'s own, so its cleaner
keeps it for hours (a resumable download), then removes it.

Every byte is hashed on its way in, the bytes already there included (they are read back to be
unpacked anyway); ``commit`` checks size and digest before the blob is renamed into place. New
bytes are hashed by the thread that writes them (below), off the thread that decompresses.

The bytes go to the file with direct I/O, in 1 MiB blocks written by a thread of the blob's own
while the next block fills (``lamina.store.direct``): the blob must be on disk before it is
committed anyway, and this way it skips the page cache (bench/pull.py, big image, 197 MB of
blobs: ~0.4 s less system time when the kernel hands out fresh pages, and no writeback for the
fsync to wait for). What the thread has not written when the process dies is downloaded again.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator

from lamina.errors import IntegrityError, StorageError
from lamina.model.digest import Digest, Hasher
from lamina.store.blobs import CHUNK, BlobStore, fsync_directory
from lamina.store.direct import DirectFile, DirectWriteError, DirectWriter
from lamina.store.scratch import Scratch, same_inode

PREFIX = "partial"
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW


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
        self._writer: DirectWriter | None = None
        self._file: DirectFile | None = None

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
            if same_inode(self.path, fd):
                return fd
            # Between our open and our lock, the file's holder committed it (renamed it into
            # ``blobs/``: its link count is still 1) or discarded it, and the name may now be
            # a newer download's. Only the inode the name holds while we hold its lock is ours
            # to resume, rename or remove: again.
            os.close(fd)

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
        if self._file is None:  # after ``existing``: no more reads of the file
            self._writer = DirectWriter(blocks=4, name="blob-writer")
            # The writer hashes what it writes, after the bytes ``existing`` hashed.
            self._file = self._writer.open(self.fd, self._written, what=str(self.path),
                                           hasher=self._hasher)
        try:
            self._file.write(data)
        except DirectWriteError as err:
            raise self._write_error(err) from err.error
        self._written += len(data)

    def _flush(self) -> None:
        """Wait until every byte received is in the file (and the writer thread is gone)."""
        writer, file = self._writer, self._file
        if writer is not None and file is not None:
            self._writer = self._file = None
            file.close()
            try:
                writer.finish()
            except DirectWriteError as err:
                raise self._write_error(err) from err.error

    def _write_error(self, err: DirectWriteError) -> StorageError:
        return StorageError(f"{self.what}: cannot write {self.path}: {err.error}")

    @property
    def received(self) -> int:
        return self._written

    def verify(self) -> None:
        """Raise IntegrityError unless every byte is here and they hash to the digest (once
        the writer has written, and so hashed, every byte received)."""
        self._flush()
        self._hasher.verify(self.digest, self.size, what=self.what)

    def commit(self) -> Digest:
        """Verify, make durable and move into ``blobs/``; the partial file is gone after."""
        if self.fd < 0:
            raise StorageError(f"{self.what}: commit after close")
        try:
            self.verify()  # and every byte written
        except (IntegrityError, StorageError):
            self.discard()
            raise
        final = self._blobs.path(self.digest)
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
            writer, self._writer, self._file = self._writer, None, None
            writer.stop()
        if self.fd >= 0:
            os.close(self.fd)  # releases the lock
            self.fd = -1
