"""Layer tars: the rules shared by reading and writing them, and ``write_layer``.

A layer is a tar of a directory tree with whiteouts in the image spec's form: ``.wh.NAME`` says
NAME of a lower layer is deleted, and ``.wh..wh..opq`` in a directory says nothing below it in
lower layers shows through. On disk lamina keeps each layer in overlayfs' form instead (a 0/0
character device named NAME, the ``trusted.overlay.opaque=y`` xattr on the directory), so the
unpacked layers stack as overlayfs lowerdirs. ``lamina.store.extract`` converts tar to disk;
``write_layer`` converts disk back to tar, reproducibly. ``TarSource`` is how a layer tar is
read: a forward-only stream that tarfile parses and whose file data we copy ourselves.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

from lamina.errors import IntegrityError, InvalidArgument, StorageError

WHITEOUT_PREFIX: Final = ".wh."
WHITEOUT_META_PREFIX: Final = ".wh..wh."
WHITEOUT_OPAQUE: Final = ".wh..wh..opq"
OPAQUE_XATTRS: Final = ("trusted.overlay.opaque", "user.overlay.opaque")
PAX_XATTR: Final = "SCHILY.xattr."

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY: Final = 1 << 20
# tarfile reads whole PAX and GNU long-name records into memory: bound them.
_MAX_RECORD: Final = 16 << 20


def clean_path(name: str, *, what: str = "entry") -> tuple[str, ...]:
    """The components of a tar entry name, relative to the layer root.

    The policy is moby's (``filepath.Clean`` then "must stay below the root"): an absolute name
    is taken relative to the root, where ``..`` stops at the root as it does in any rooted path
    (``/../etc/x`` is ``etc/x``); a relative name whose ``..`` climbs above the root is refused,
    because no honest tar writer produces one, so it can only be an attack or a broken archive.
    The empty tuple is the root itself.
    """
    if "\x00" in name:
        raise InvalidArgument(f"layer {what} {name!r}: name contains a NUL byte")
    rooted = name.startswith("/")
    split = (name[:-1] if name.endswith("/") else name).split("/")
    if "" not in split and "." not in split and ".." not in split:
        return tuple(split)  # the usual name, checked in C: a deep layer's names are long
    parts: list[str] = []
    for part in split:
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            elif not rooted:
                raise InvalidArgument(f"layer {what} {name!r} points outside the layer")
            continue
        parts.append(part)
    return tuple(parts)


def clean_name(name: str, *, what: str = "entry") -> str:
    """``clean_path`` as one '/'-separated string ("" for the root). The usual name is
    checked by scanning it in C and kept whole: a walk that finds directories by their path
    as one string does no work per name on the way, which over a layer thousands of
    directories deep is most of it."""
    if "\x00" in name:
        raise InvalidArgument(f"layer {what} {name!r}: name contains a NUL byte")
    trimmed = name[:-1] if name.endswith("/") else name
    if (trimmed and not trimmed.startswith(("/", "./", "../")) and trimmed not in (".", "..")
            and not trimmed.endswith(("/", "/.", "/..")) and "//" not in trimmed
            and "/./" not in trimmed and "/../" not in trimmed):
        return trimmed
    return "/".join(clean_path(name, what=what))


def xattr_allowed(key: str) -> bool:
    """Whether an xattr may travel between a layer tar and the disk.

    ``user.*`` (but not ``user.overlay.*``, which rootless overlayfs reads as its own metadata),
    file capabilities and POSIX ACLs. ``trusted.*`` never: a layer that could set
    ``trusted.overlay.*`` could forge whiteouts, opaque directories or redirects. Other
    ``security.*`` labels (SELinux, IMA) belong to the host's policy, not to the image.
    """
    if key.startswith("user."):
        return not key.startswith("user.overlay.")
    return key in ("security.capability", "system.posix_acl_access", "system.posix_acl_default")


def read_xattrs(fd: int) -> dict[str, bytes]:
    """The allowed xattrs of an open file (empty where the filesystem has none)."""
    try:
        names = os.listxattr(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM, errno.EACCES):
            return {}
        raise
    found: dict[str, bytes] = {}
    for key in sorted(names):
        if xattr_allowed(key):
            try:
                found[key] = os.getxattr(fd, key)
            except OSError as exc:
                if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
                    raise
    return found


def is_opaque(fd: int) -> bool:
    for key in OPAQUE_XATTRS:
        try:
            if os.getxattr(fd, key) == b"y":
                return True
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
                raise
    return False


class TarSource:
    """A layer tar stream, read forward only, for tarfile to parse in its seekable mode ("r").

    tarfile's own streaming mode ("r|") copies the whole rest of its buffer on every 512-byte
    header read, which makes small-file layers slow with a large buffer and big files slow
    with a small one. Here headers are served from a 1 MiB buffer without copying it, file
    data goes from the buffer straight to a file descriptor (``copy_to``), and a backward seek
    (which a streamed layer cannot do) is an error rather than a silent re-read.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buf = bytearray(_COPY)
        self._view = memoryview(self._buf)
        self._start = self._end = 0
        self._pos = 0
        self._eof = False
        self._last = b""  # what tarfile read last: the header it stopped at

    def _fill(self, into: memoryview) -> int:
        """Read from the stream into ``into``; 0 (and EOF noted) at the end."""
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            got = int(readinto(into) or 0)
        else:
            data = self._stream.read(len(into))
            got = len(data)
            into[:got] = data
        if not got:
            self._eof = True
        return got

    def _take(self, n: int) -> memoryview:
        """Up to ``n`` buffered bytes (empty only at the end); valid until the next call."""
        if self._start == self._end:
            self._start = self._end = 0
            if self._eof:
                return self._view[:0]
            got = self._fill(self._view)
            if not got:
                return self._view[:0]
            self._end = got
        k = min(n, self._end - self._start)
        view = self._view[self._start : self._start + k]
        self._start += k
        self._pos += k
        return view

    def peek(self, n: int) -> memoryview:
        """The next ``n`` bytes (fewer only at the end) without consuming them; valid until
        the next call."""
        if self._end - self._start < n and not self._eof:
            # Move the few bytes left to the front and fill up behind them.
            left = self._end - self._start
            self._view[:left] = bytes(self._view[self._start : self._end])
            self._start, self._end = 0, left
            while self._end < n:
                got = self._fill(self._view[self._end :])
                if not got:
                    break
                self._end += got
        return self._view[self._start : min(self._end, self._start + n)]

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > _MAX_RECORD:
            raise IntegrityError(f"layer has a tar header record of {n} bytes")
        first = self._take(n)
        if len(first) == n or not first:
            data = bytes(first)
        else:
            parts, got = [bytes(first)], len(first)
            while got < n and (more := self._take(n - got)):
                parts.append(bytes(more))
                got += len(more)
            data = b"".join(parts)
        self._last = data
        return data

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("layer streams only seek forward")
        if pos < self._pos:
            raise io.UnsupportedOperation("layer streams only seek forward")
        while self._pos < pos and self._take(pos - self._pos):
            pass
        return self._pos

    def copy_to(self, fd: int, offset: int, size: int, name: str) -> None:
        """Write the ``size`` bytes at ``offset`` to ``fd`` (os.write loops, no copies)."""
        self.seek(offset)
        while size:
            view = self._take(min(size, _COPY))
            if not view:
                raise IntegrityError(f"layer is truncated in entry {name!r}")
            size -= len(view)
            while view:
                view = view[os.write(fd, view) :]

    def finish(self) -> None:
        """Check that the tar ended cleanly and read the rest (padding is part of the diff_id)."""
        if self._last.strip(b"\0"):
            raise IntegrityError(
                f"layer has an invalid tar header at offset {self._pos - len(self._last)}"
            )
        while self._take(_COPY):
            pass


class _Out:
    """The output stream with a ``tell`` of its own, so tarfile writes to it directly."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.pos = 0

    def write(self, data: bytes) -> int:
        self._stream.write(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos


class _FdReader:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, n: int = _COPY) -> bytes:
        return os.read(self.fd, n)


def write_layer(root: Path, out: BinaryIO, *, source_date_epoch: int | None = None) -> int:
    """Write the tree under ``root`` to ``out`` as a layer tar; return the number of entries.

    The tar is reproducible: entries in sorted order (each directory before its children),
    PAX format, whole-second mtimes (clamped to ``source_date_epoch`` when given), no user or
    group names. Modes, numeric owners, allowed xattrs, symlinks, hardlinks (the first path
    holds the data), devices and fifos are kept; sockets are skipped, as docker does. Overlay
    whiteouts become ``.wh.NAME`` entries and opaque directories get ``.wh..wh..opq``. The walk
    goes through directory file descriptors and never follows a symlink.
    """
    tar = tarfile.TarFile(fileobj=_Out(out), mode="w", format=tarfile.PAX_FORMAT)  # type: ignore[arg-type]
    tar.copybufsize = _COPY  # type: ignore[attr-defined]
    links: dict[tuple[int, int], str] = {}
    count = 0
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise StorageError(f"cannot read layer directory {root}: {exc.strerror}") from exc
    try:
        for info, fd in _walk(root_fd, "", source_date_epoch, links):
            try:
                tar.addfile(info, _FdReader(fd) if fd >= 0 else None)
            finally:
                if fd >= 0:
                    os.close(fd)
            # tarfile keeps every header it wrote; nothing reads them back, and a deep tree's
            # names are long (10,000 levels: 100 MB of them).
            tar.members.clear()  # type: ignore[attr-defined]
            count += 1
        tar.close()
    finally:
        os.close(root_fd)
    return count


def _header(name: str, st: os.stat_result, sde: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    mtime = int(st.st_mtime)
    info.mtime = min(mtime, sde) if sde is not None else mtime
    return info


def _walk(
    root_fd: int, prefix: str, sde: int | None, links: dict[tuple[int, int], str]
) -> Iterator[tuple[tarfile.TarInfo, int]]:
    """Yield (header, fd of the content or -1) for the entries below ``root_fd``, sorted,
    each directory before its children.

    Iterative, through a ``DirChain`` (a few descriptors whatever the depth): a container can
    make a tree far deeper than Python's recursion limit or the open-files limit.
    """
    from lamina.image.dirchain import DirChain

    chain = DirChain(os.dup(root_fd))
    # What is left to list in each directory of the chain, and how long the path of its
    # parent is: only the current directory's path is kept (one per level would cost the
    # square of the depth).
    todo: list[tuple[Iterator[str], int]] = [(_sorted_names(root_fd), len(prefix))]
    base = prefix
    try:
        while todo:
            names, parent_len = todo[-1]
            name = next(names, None)
            if name is None:
                todo.pop()
                if len(chain) > 1:
                    chain.pop()
                base = base[:parent_len]
                continue
            dir_fd = chain.top()
            path = base + name
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                info = _header(path, st, sde)
                info.type = tarfile.DIRTYPE
                sub = chain.push(name)
                _add_xattrs(info, sub)
                yield info, -1
                if is_opaque(sub):
                    opq = _header(path + "/" + WHITEOUT_OPAQUE, st, sde)
                    opq.mode = 0o600
                    yield opq, -1
                todo.append((_sorted_names(sub), len(base)))
                base = path + "/"
                continue
            entry = _entry(dir_fd, name, base, st, sde, links)
            if entry is not None:
                yield entry
    finally:
        chain.close()


def _sorted_names(fd: int) -> Iterator[str]:
    return iter(sorted(os.listdir(fd), key=os.fsencode))


def _entry(dir_fd: int, name: str, prefix: str, st: os.stat_result, sde: int | None,
           links: dict[tuple[int, int], str]) -> tuple[tarfile.TarInfo, int] | None:
    """The header (and open content) of ``name``, anything but a directory; None to skip."""
    path = prefix + name
    info = _header(path, st, sde)
    mode = st.st_mode
    if stat.S_ISCHR(mode) and st.st_rdev == 0:  # an overlay whiteout
        info.name = prefix + WHITEOUT_PREFIX + name
        info.mode = 0o600
        return info, -1
    if stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(name, dir_fd=dir_fd)
        return info, -1
    if stat.S_ISSOCK(mode):
        return None
    key = (st.st_dev, st.st_ino)
    if key in links:
        info.type = tarfile.LNKTYPE
        info.linkname = links[key]
        return info, -1
    if st.st_nlink > 1:
        links[key] = path
    if stat.S_ISREG(mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            _add_xattrs(info, fd)
            info.size = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        return info, fd
    if stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return info, -1


def _add_xattrs(info: tarfile.TarInfo, fd: int) -> None:
    found = read_xattrs(fd)
    if found:
        info.pax_headers = {
            PAX_XATTR + key: value.decode("utf-8", "surrogateescape")
            for key, value in found.items()
        }


__all__ = [
    "OPAQUE_XATTRS",
    "PAX_XATTR",
    "WHITEOUT_META_PREFIX",
    "WHITEOUT_OPAQUE",
    "WHITEOUT_PREFIX",
    "TarSource",
    "clean_name",
    "clean_path",
    "is_opaque",
    "read_xattrs",
    "write_layer",
    "xattr_allowed",
]
