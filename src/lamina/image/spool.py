"""An archive's files, read once from a tar stream and kept where they can be read again.

``docker save`` archives and OCI layout archives must be read out of order (manifest.json or
index.json first, blobs after), but the input may be a pipe, and may be compressed. So the tar
is read once, in tarfile's stream mode and only as data: every regular file is hashed as it
passes and, unless the input is an uncompressed regular file that can simply be read again at
the entry's offset, copied to a private temporary directory. Nothing is ever created under a
name taken from the archive.

Entry names are checked as they arrive: no absolute names, no ``..``, no duplicates, no device
nodes. Symlinks and hardlinks are only recorded as aliases (legacy ``docker save`` and skopeo
link ``<layer id>/layer.tar`` to a shared file); they are resolved lexically, within the
archive, and only ever to a regular file entry.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Final, cast

from lamina.errors import IntegrityError, InvalidArgument, StorageError
from lamina.image.streams import Prefixed
from lamina.model.digest import Digest

#: More entries than this is not an image archive; refusing bounds memory spent on the index.
MAX_ENTRIES: Final = 200_000
MAX_NAME: Final = 4096
MAX_HEADER: Final = 1 << 20
_EXTENSION_TYPES: Final = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)
_CHUNK: Final = 1 << 20
_BLOB_NAME: Final = re.compile(r"blobs/(sha256|sha512)/([a-f0-9]+)")
_MAX_LINK_HOPS: Final = 16


def _format_errors() -> tuple[type[BaseException], ...]:
    """What a broken or hostile compressed or tar stream raises while it is parsed (bz2 and
    gzip raise plain OSError subclasses; reads from a pipe have nothing else to raise)."""
    import zstandard
    from isal import igzip_lib

    return (
        tarfile.TarError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        OSError,
        zstandard.ZstdError,
        cast(type[Exception], igzip_lib.IsalError),
    )


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """A regular file of the archive: its size and digest as read, and where its bytes are."""

    name: str
    size: int
    digest: Digest  # sha256, or sha512 for entries under blobs/sha512/
    path: Path | None  # the spooled copy, or None when read in place at ``offset``
    offset: int = 0


class Spool:
    """The regular files of one archive, by normalised name. Close it to remove the copies."""

    def __init__(self, workdir: Path | None, source_fd: int | None) -> None:
        self._workdir = workdir
        self._fd = source_fd
        self.entries: dict[str, SpoolEntry] = {}
        self.links: dict[str, tuple[str, bool]] = {}  # name -> (target, is_symlink)

    # -- lookups -------------------------------------------------------------------------------

    def has(self, name: str) -> bool:
        return self._resolve(name, missing_ok=True) is not None

    def entry(self, name: str) -> SpoolEntry:
        """The regular file ``name`` names (following in-archive links); InvalidArgument if none."""
        found = self._resolve(name, missing_ok=False)
        assert found is not None
        return found

    def blob(self, digest: Digest, size: int | None = None) -> SpoolEntry:
        """The blob file ``blobs/<alg>/<hex>``: a regular file whose bytes match ``digest``."""
        name = f"blobs/{digest.algorithm}/{digest.hex}"
        found = self.entries.get(name)
        if found is None:
            kind = "a link" if name in self.links else "missing"
            raise InvalidArgument(f"archive is invalid: blob {digest} is {kind}")
        return self.check(found, digest, size)

    def check(self, entry: SpoolEntry, digest: Digest, size: int | None = None) -> SpoolEntry:
        """``entry`` if its bytes have ``digest`` (and ``size``); IntegrityError otherwise."""
        if size is not None and entry.size != size:
            raise IntegrityError(
                f"archive entry {entry.name}: size {entry.size} does not match expected {size}"
            )
        actual = entry.digest
        if actual.algorithm != digest.algorithm:
            actual = self._rehash(entry, digest.algorithm)
        if actual != digest:
            raise IntegrityError(
                f"archive entry {entry.name}: digest {actual} does not match expected {digest}"
            )
        return entry

    def open(self, entry: SpoolEntry) -> BinaryIO:
        if entry.path is not None:
            return open(entry.path, "rb")
        assert self._fd is not None
        return io.BufferedReader(_Slice(self._fd, entry.offset, entry.size), _CHUNK)

    def read(self, entry: SpoolEntry, limit: int) -> bytes:
        """The whole of a small entry (a manifest, a config); InvalidArgument beyond ``limit``."""
        if entry.size > limit:
            raise InvalidArgument(
                f"archive entry {entry.name} is too large ({entry.size} bytes, limit {limit})"
            )
        with self.open(entry) as f:
            return f.read()

    def close(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _resolve(self, name: str, *, missing_ok: bool) -> SpoolEntry | None:
        current = normalise_name(name)
        for _ in range(_MAX_LINK_HOPS):
            found = self.entries.get(current)
            if found is not None:
                return found
            link = self.links.get(current)
            if link is None:
                if missing_ok:
                    return None
                raise InvalidArgument(f"archive is invalid: {name} is missing")
            target, symbolic = link
            if symbolic:
                if target.startswith("/"):
                    raise InvalidArgument(
                        f"archive is invalid: {current} links outside the archive"
                    )
                base = current.rpartition("/")[0]
                target = f"{base}/{target}" if base else target
            current = _lexical(target, current, resolve_parents=True)
        raise InvalidArgument(f"archive is invalid: too many links from {name}")

    def _rehash(self, entry: SpoolEntry, algorithm: str) -> Digest:
        hasher = hashlib.new(algorithm)
        with self.open(entry) as f:
            while chunk := f.read(_CHUNK):
                hasher.update(chunk)
        return Digest.from_hex(hasher.hexdigest(), algorithm)


class _Slice(io.RawIOBase):
    """``size`` bytes of a file from ``offset``, read with pread so readers never share a cursor."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd, self._offset, self._size, self._pos = fd, offset, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        data = os.pread(self._fd, n, self._offset + self._pos)
        if not data:
            raise IntegrityError("archive changed while being read")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def normalise_name(name: str) -> str:
    """An entry name made canonical (``./a//b`` -> ``a/b``); InvalidArgument if it is unsafe."""
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise InvalidArgument(f"archive has an invalid entry name {name[:100]!r}")
    if name.startswith("/"):
        raise InvalidArgument(f"archive has an absolute entry name {name[:100]!r}")
    return _lexical(name, name)


def _lexical(name: str, shown: str, *, resolve_parents: bool = False) -> str:
    """``name`` without empty and ``.`` components. ``..`` is refused in entry names; in link
    targets it is resolved, and may not climb above the archive's root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and resolve_parents and parts:
            parts.pop()
        elif part == "..":
            raise InvalidArgument(f"archive entry {shown[:100]!r} points outside the archive")
        else:
            parts.append(part)
    if not parts:
        raise InvalidArgument(f"archive has an invalid entry name {shown[:100]!r}")
    return "/".join(parts)


def _decompressed(head: bytes, stream: IO[bytes]) -> tuple[IO[bytes], bool]:
    """The stream decompressed according to its magic bytes, and whether it was compressed."""
    if head.startswith(b"\x1f\x8b"):
        from isal import igzip  # ISA-L inflates several times faster than zlib

        return cast(IO[bytes], igzip.IGzipFile(fileobj=stream, mode="rb")), True
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard

        # The window bound keeps a hostile frame from asking for gigabytes of decoder memory.
        decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 28)
        return decompressor.stream_reader(stream, read_across_frames=True), True
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream), True
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream), True
    return stream, False


def spool_archive(
    source: BinaryIO | str | os.PathLike[str],
    *,
    tmp_dir: str | os.PathLike[str] | None = None,
    max_size: int | None = None,
) -> Spool:
    """Read the tar archive ``source`` (a path or a readable stream, possibly compressed with
    gzip, zstd, xz or bzip2) into a :class:`Spool`. ``tmp_dir`` is where copies go (the store's
    tmp/ keeps them on the store's filesystem); ``max_size`` bounds the bytes of file data."""
    owned: BinaryIO | None = None
    if isinstance(source, str | os.PathLike):
        try:
            owned = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as err:
            raise InvalidArgument(
                f"cannot open archive {os.fspath(source)}: {err.strerror}"
            ) from None
        stream: BinaryIO = owned
    else:
        stream = source
    try:
        return _spool(stream, tmp_dir, max_size)
    finally:
        if owned is not None:
            owned.close()


def _spool(stream: BinaryIO, tmp_dir: str | os.PathLike[str] | None, max_size: int | None) -> Spool:
    in_place_fd = _regular_file_fd(stream)
    base = stream.tell() if in_place_fd is not None else 0
    head = b""
    while len(head) < 6 and (more := stream.read(6 - len(head))):  # a pipe may give less
        head += more
    if not head:
        if in_place_fd is not None:
            os.close(in_place_fd)
        raise InvalidArgument("archive is empty")
    raw = io.BufferedReader(Prefixed(head, stream), _CHUNK)
    data, compressed = _decompressed(head, raw)
    if compressed and in_place_fd is not None:
        os.close(in_place_fd)
        in_place_fd = None
    workdir = None
    if in_place_fd is None:
        try:
            workdir = Path(tempfile.mkdtemp(prefix="lamina-archive-", dir=tmp_dir))
        except OSError as err:
            raise StorageError(f"cannot create a temporary directory: {err}") from None
    spool = Spool(workdir, in_place_fd)
    try:
        _read_entries(spool, data, base, max_size)
    except BaseException:
        spool.close()
        raise
    return spool


def _regular_file_fd(stream: BinaryIO) -> int | None:
    """A private descriptor on ``stream``'s file if it is a seekable regular file."""
    try:
        fd = stream.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not stream.seekable():
            return None
        stream.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    return os.dup(fd)


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses header extensions (PAX records, GNU long names) larger than MAX_HEADER: tarfile
    reads them whole into memory, so a hostile archive could ask for gigabytes."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENSION_TYPES and self.size > MAX_HEADER:
            raise InvalidArgument(f"archive has a {self.size}-byte tar header extension")
        return super()._proc_member(tar)  # type: ignore[misc]


def _read_entries(spool: Spool, data: IO[bytes], base: int, max_size: int | None) -> None:
    total = 0
    try:
        tar = tarfile.open(fileobj=data, mode="r|", tarinfo=_BoundedTarInfo)  # noqa: SIM115 - closed by the with below
    except _format_errors() as err:
        raise InvalidArgument(f"archive is not a valid tar file: {err}") from None
    with tar:
        for count, member in enumerate(_members(tar)):
            if count >= MAX_ENTRIES:
                raise InvalidArgument(f"archive has more than {MAX_ENTRIES} entries")
            if member.isdir():
                if member.name.strip("./"):  # "./" itself is fine, "../x/" is not
                    normalise_name(member.name)
                continue
            name = normalise_name(member.name)
            if name in spool.entries or name in spool.links:
                raise InvalidArgument(f"archive has a duplicate entry {name!r}")
            if member.issym() or member.islnk():
                spool.links[name] = (member.linkname, member.issym())
                continue
            if not member.isreg() or member.issparse():
                raise InvalidArgument(f"archive entry {name!r} is not a regular file")
            total += member.size
            if max_size is not None and total > max_size:
                raise InvalidArgument(f"archive holds more than {max_size} bytes")
            spool.entries[name] = _copy_entry(spool, tar, member, name, base)


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            member = tar.next()
        except _format_errors() as err:
            raise InvalidArgument(f"archive is not a valid tar file: {err}") from None
        if member is None:
            return
        yield member


def _copy_entry(
    spool: Spool, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, base: int
) -> SpoolEntry:
    """Hash the entry's data (and copy it to the spool directory unless it is read in place)."""
    match = _BLOB_NAME.fullmatch(name)
    hasher = hashlib.new(match.group(1) if match else "sha256")
    path = None
    if spool._workdir is not None:
        path = spool._workdir / f"{len(spool.entries):07d}"
        try:
            with open(path, "xb") as dest:
                _pump(tar, member, name, hasher, dest)
        except OSError as err:
            raise StorageError(f"cannot spool archive entry {name!r}: {err}") from None
    else:
        _pump(tar, member, name, hasher, None)
    digest = Digest.from_hex(hasher.hexdigest(), hasher.name)
    return SpoolEntry(name, member.size, digest, path, base + member.offset_data)


def _pump(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    name: str,
    hasher: hashlib._Hash,
    dest: BinaryIO | None,
) -> None:
    # The member's data sits right after its header in the stream; reading it from the tar's
    # own stream keeps tarfile to parsing, and nothing to extracting.
    stream = tar.fileobj
    assert stream is not None
    remaining = member.size
    while remaining:
        try:
            chunk = stream.read(min(remaining, _CHUNK))
        except _format_errors() as err:
            raise InvalidArgument(f"archive entry {name!r} cannot be read: {err}") from None
        if not chunk:
            raise InvalidArgument(f"archive is truncated in entry {name!r}")
        hasher.update(chunk)
        remaining -= len(chunk)
        if dest is not None:
            dest.write(chunk)
