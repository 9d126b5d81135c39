"""Content-addressed blobs at ``blobs/<algorithm>/<hex>``, as in an OCI image layout.

A blob is written to a locked temporary file in ``tmp/`` (same filesystem), hashed and counted
while it streams, checked against the expected digest and size, fsynced, renamed into place, and
its directory fsynced. So a file at ``blobs/<alg>/<hex>`` always holds exactly the bytes of that
digest: readers never see a partial blob, and ``kill -9`` at any moment leaves none behind.
Two processes ingesting the same blob each write their own temporary file; the second rename
replaces the first file with identical bytes, which readers of the first still see whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lamina.errors import IntegrityError, InvalidDigest, NotFound, StorageError
from lamina.model.digest import ALGORITHMS, Digest, Hasher
from lamina.store.lease import Lease
from lamina.store.scratch import Scratch, ScratchFile

if TYPE_CHECKING:
    from lamina.store.partial import PartialBlob

CHUNK = 1 << 20
_HEX = re.compile(r"[a-f0-9]+")


class BlobWriter:
    """Streams one blob into the store; use as a context manager, or call commit()/abort()."""

    def __init__(
        self, blobs: BlobStore, expected: Digest | None, size: int | None, *, what: str
    ) -> None:
        if expected is not None:
            blobs.path(expected)  # validates the digest before anything is written
        if size is not None and size < 0:
            raise IntegrityError(f"{what}: negative size {size}")
        self._blobs = blobs
        self.expected = expected
        self.expected_size = size
        self.what = what
        self._hasher = Hasher(expected.algorithm if expected is not None else "sha256")
        self._tmp: ScratchFile | None = blobs._scratch.file("blob")
        self.digest: Digest | None = None

    @property
    def size(self) -> int:
        return self._hasher.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._tmp is None:
            raise StorageError(f"{self.what}: write after commit or abort")
        if self.expected_size is not None and self._hasher.size + len(data) > self.expected_size:
            # Stop a stream that runs past its declared size before it fills the disk.
            raise IntegrityError(f"{self.what}: more than the expected {self.expected_size} bytes")
        view = memoryview(data)
        self._hasher.update(view)
        while view:
            try:
                written = os.write(self._tmp.fd, view)
            except OSError as err:
                raise StorageError(f"{self.what}: cannot write to {self._tmp.path}: {err}") from err
            view = view[written:]

    def flush(self) -> None:
        """Nothing to do: writes go straight to the file (for code that expects a stream)."""

    def commit(self) -> Digest:
        """Check digest and size, make the blob durable and visible; return its digest."""
        tmp = self._tmp
        if tmp is None:
            raise StorageError(f"{self.what}: commit after commit or abort")
        try:
            if self.expected is not None:
                self._hasher.verify(self.expected, self.expected_size, what=self.what)
            elif self.expected_size is not None and self._hasher.size != self.expected_size:
                raise IntegrityError(
                    f"{self.what}: size {self._hasher.size} does not match expected "
                    f"{self.expected_size}"
                )
            digest = self._hasher.digest()
            final = self._blobs.path(digest)
            try:
                os.fsync(tmp.fd)
                os.chmod(tmp.path, 0o644)
                os.replace(tmp.path, final)
            except FileNotFoundError:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp.path, final)
            except OSError as err:
                raise StorageError(f"{self.what}: cannot store blob {digest}: {err}") from err
            fsync_directory(final.parent)
        except BaseException:
            self.abort()
            raise
        tmp.close()
        self._tmp = None
        self.digest = digest
        return digest

    def abort(self) -> None:
        """Drop what was written; nothing is left behind."""
        if self._tmp is not None:
            self._tmp.discard()
            self._tmp = None

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class BlobStore:
    """The ``blobs/`` directory of a store."""

    def __init__(self, root: Path, scratch: Scratch, lease: Lease | None = None) -> None:
        self.root = root
        self._scratch = scratch
        self._lease = lease

    def path(self, digest: Digest) -> Path:
        """Where the blob ``digest`` lives (whether or not it is there)."""
        algorithm, _, hex_ = str(digest).partition(":")
        # Checked here as well as in Digest.parse: this string becomes a path.
        if ALGORITHMS.get(algorithm) != len(hex_) or not _HEX.fullmatch(hex_):
            raise InvalidDigest(f"invalid digest {str(digest)!r}")
        return self.root / algorithm / hex_

    def has(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the store") from None

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the store") from None

    def read(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def verify(self, digest: Digest) -> bool:
        """Re-hash the stored blob and tell whether it matches its name."""
        hasher = Hasher(digest.algorithm)
        with self.open(digest) as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
        return hasher.digest() == digest

    def writer(
        self, expected: Digest | None = None, size: int | None = None, *, what: str = "blob"
    ) -> BlobWriter:
        """A writer for push-style streaming: ``with store.writer(d, n) as w: w.write(b)``."""
        if self._lease is not None:
            self._lease.hold()
        return BlobWriter(self, expected, size, what=what)

    def partial(self, expected: Digest, size: int, *, what: str = "blob") -> PartialBlob:
        """A resumable download of ``expected`` kept in ``tmp/`` (see ``lamina.store.partial``)."""
        from lamina.store.partial import PartialBlob

        if self._lease is not None:
            self._lease.hold()
        return PartialBlob(self, self._scratch, expected, size, what=what)

    def ingest(
        self,
        stream: BinaryIO | Iterable[bytes],
        expected: Digest | None = None,
        size: int | None = None,
        *,
        what: str | None = None,
    ) -> tuple[Digest, int]:
        """Stream a blob in; check size and digest; return both. Idempotent.

        If ``expected`` is already stored, the stream is not read at all.
        """
        label = what or (f"blob {expected}" if expected is not None else "blob")
        if expected is not None:
            if self._lease is not None:
                # Before looking: a gc that is deleting it now finishes first, then we see it gone.
                self._lease.hold()
            stored = self._stored_size(expected)
            if stored is not None:
                if size is not None and size != stored:
                    raise IntegrityError(
                        f"{label}: size {size} does not match the stored blob's {stored}"
                    )
                return expected, stored
        with self.writer(expected, size, what=label) as w:
            for chunk in _chunks(stream):
                w.write(chunk)
        assert w.digest is not None
        return w.digest, w.size

    def put(self, data: bytes, expected: Digest | None = None) -> Digest:
        """Store ``data``; raise IntegrityError if it does not have digest ``expected``."""
        digest = Digest.of(data, expected.algorithm if expected is not None else "sha256")
        if expected is not None and digest != expected:
            raise IntegrityError(f"blob: digest {digest} does not match expected {expected}")
        self.ingest([data], digest, len(data))
        return digest

    def delete(self, digest: Digest) -> bool:
        """Remove a blob; return whether it was there."""
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> Iterator[Digest]:
        """Every stored blob (a directory scan: for gc and checks, not for hot paths)."""
        for algorithm in ALGORITHMS:
            directory = self.root / algorithm
            try:
                with os.scandir(directory) as it:
                    names = [entry.name for entry in it]
            except FileNotFoundError:
                continue
            for name in names:
                if len(name) == ALGORITHMS[algorithm] and _HEX.fullmatch(name):
                    yield Digest(f"{algorithm}:{name}")

    def _stored_size(self, digest: Digest) -> int | None:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            return None


def _chunks(stream: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    read = getattr(stream, "read", None)
    if read is None:
        yield from stream
        return
    while chunk := read(CHUNK):
        yield chunk


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
