"""``docker cp``'s reading side: a tree read as a stream of entries, and entries written as tar.

A copy is a stream of ``Entry`` values, read from a directory tree (``walk``) or from a tar
(``lamina.runtime.copy_in.read_tar``), and written below a directory
(``lamina.runtime.copy_in.TreeWriter``) or to a tar (``TarWriter``, for ``lamina cp C:SRC -``).

``walk`` goes through directory file descriptors and never follows a symlink: a container's
tree is hostile, and a symlink in it is copied as a symlink, its target mere data. The caller
resolves the source path itself (``RootFS`` inside a container) and hands ``walk`` the
directory that holds it. Regular files are opened ``O_NOFOLLOW | O_NONBLOCK`` and checked to
be regular once open, so a fifo or device swapped in is never read. Fifos, devices and sockets
are yielded as entries of kind ``other``: the tar writer skips them, the tree writer refuses
them.

``entry_bytes`` is what an entry weighs in a tar as Go's archive/tar writes it (headers, data
padded to 512 bytes; the archive ends with 1024 zero bytes, no record padding): the size docker
reports in ``Successfully copied 2.05kB to ...``.
"""

from __future__ import annotations

import copy
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from typing import IO, NamedTuple

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CHUNK = 1 << 20
BLOCK = 512
END_OF_ARCHIVE = 2 * BLOCK


class Entry(NamedTuple):
    """One file of a copy. ``name`` is relative to the destination ('/'-separated; "" is the
    destination directory itself); ``link`` is a symlink's target, or for a hardlink the name
    of the earlier entry it links to; ``read`` gives a regular file's content."""

    name: str
    mode: int  # st_mode: type and permission bits
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    link: str = ""
    hardlink: bool = False
    read: Callable[[int], bytes] | None = None
    fd: int = -1  # a regular file's descriptor, when it comes from a tree (for sendfile)

    @property
    def kind(self) -> str:
        if self.hardlink:
            return "hardlink"
        if stat.S_ISDIR(self.mode):
            return "dir"
        if stat.S_ISREG(self.mode):
            return "file"
        if stat.S_ISLNK(self.mode):
            return "symlink"
        return "other"


def join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def walk(parent_fd: int, name: str, arcname: str, *, read: bool = True) -> Iterator[Entry]:
    """The entries of ``name`` (in the directory ``parent_fd``) and, for a directory, of
    everything below it, parents first and names sorted; the first is named ``arcname``.
    Sockets are left out, as docker leaves them.

    With ``read`` every regular file is open while its entry is being used (its ``read``
    works until the next entry is asked for); without it, entries carry metadata only. The
    walk keeps no Python frame per level, and its directories in a ``DirChain`` (a few open
    whatever the depth): a tree of any depth is copied in time linear in its size.
    """
    from lamina.image.dirchain import DirChain

    links: dict[tuple[int, int], str] = {}
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        yield from _entry(parent_fd, name, arcname, st, read, links)
        return
    chain = DirChain(os.open(name, _DIR, dir_fd=parent_fd))
    try:
        # What is left to list at each level, and how long its parent's name is: only the
        # current directory's name is kept (one per level would cost the square of the depth).
        todo = [(_names(chain.top()), len(arcname))]
        prefix = arcname
        yield _meta(arcname, st)
        while todo:
            names, parent_len = todo[-1]
            child = next(names, None)
            if child is None:
                todo.pop()
                if len(chain) > 1:
                    chain.pop()
                prefix = prefix[:parent_len]
                continue
            pfd, arc = chain.top(), join(prefix, child)
            st = os.stat(child, dir_fd=pfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                todo.append((_names(chain.push(child)), len(prefix)))
                prefix = arc
                yield _meta(arc, st)
            else:
                yield from _entry(pfd, child, arc, st, read, links)
    finally:
        chain.close()


def _names(fd: int) -> Iterator[str]:
    return iter(sorted(os.listdir(fd), key=os.fsencode))


def _meta(arc: str, st: os.stat_result) -> Entry:
    return Entry(arc, st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime))


def _entry(pfd: int, name: str, arc: str, st: os.stat_result, read: bool,
           links: dict[tuple[int, int], str]) -> Iterator[Entry]:
    """The entry ``name``, anything but a directory."""
    meta = _meta(arc, st)
    if stat.S_ISLNK(st.st_mode):
        yield meta._replace(link=os.readlink(name, dir_fd=pfd))
    elif stat.S_ISREG(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1:
            if key in links:
                yield meta._replace(link=links[key], hardlink=True)
                return
            links[key] = arc
        if not read:
            yield meta._replace(size=st.st_size)
            return
        fd = os.open(name, _FILE, dir_fd=pfd)
        try:
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != key:
                raise OSError(f"{arc}: changed while being copied")
            yield meta._replace(size=now.st_size, read=lambda n: os.read(fd, n), fd=fd)
        finally:
            os.close(fd)
    elif not stat.S_ISSOCK(st.st_mode):
        yield meta


def tar_header(entry: Entry) -> tarfile.TarInfo | None:
    """The tar header of ``entry`` (no user or group names, as docker's); None for the kinds
    a copy leaves out (fifos, devices, sockets)."""
    info = tarfile.TarInfo(entry.name)
    info.mode = stat.S_IMODE(entry.mode)
    info.uid, info.gid, info.mtime = entry.uid, entry.gid, entry.mtime
    info.uname = info.gname = ""
    kind = entry.kind
    if kind == "dir":
        info.type = tarfile.DIRTYPE
    elif kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, entry.link
    elif kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, entry.link
    elif kind == "file":
        info.size = entry.size
    else:
        return None
    return info


def _header_bytes(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def entry_bytes(entry: Entry) -> int:
    """What ``entry`` weighs in the tar docker would send (headers and padded data).

    A name or link target too long for a ustar header goes in a PAX record; its weight is
    counted, not written out: building each header of a deep tree would cost the square of
    its depth."""
    info = tar_header(entry)
    if info is None:
        return 0
    data = -(-info.size // BLOCK) * BLOCK
    name = info.name + "/" if info.type == tarfile.DIRTYPE and not info.name.endswith("/") \
        else info.name
    long = {key: value for key, value in (("path", name), ("linkpath", info.linkname))
            if len(value) > _USTAR_NAME or not value.isascii()}
    if not long:
        return len(_header_bytes(info)) + data
    try:
        encoded = {key: value.encode() for key, value in long.items()}
    except UnicodeEncodeError:  # not UTF-8 (a PAX charset record too): build it
        return len(_header_bytes(info)) + data
    short = copy.copy(info)
    short.name = "d/" if info.type == tarfile.DIRTYPE else "f"
    short.linkname = "l" if info.linkname else ""
    if len(_header_bytes(short)) != BLOCK:  # other PAX records (a large id or size): build
        return len(_header_bytes(info)) + data
    records = sum(_pax_record(key, value) for key, value in encoded.items())
    return 2 * BLOCK + -(-records // BLOCK) * BLOCK + data


_USTAR_NAME = 100


def _pax_record(key: str, value: bytes) -> int:
    """The length of the PAX record "LEN KEY=VALUE\\n", LEN counting its own digits."""
    bare = len(key) + len(value) + 3
    length = bare + len(str(bare))
    return length if len(str(length)) == len(str(bare)) else bare + len(str(length))


class TarWriter:
    """Entries written to ``out`` as a tar stream (PAX headers only where ustar falls short)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.skipped: list[str] = []

    def put(self, entry: Entry) -> None:
        info = tar_header(entry)
        if info is None:
            self.skipped.append(entry.name)
            return
        self.out.write(_header_bytes(info))
        if info.size:
            left = info.size
            while left and entry.read is not None and (data := entry.read(min(CHUNK, left))):
                self.out.write(data)
                left -= len(data)
            # A file that shrank while being read: its promised size, zero-filled.
            self.out.write(bytes(left + (-info.size % BLOCK)))

    def close(self) -> None:
        self.out.write(bytes(END_OF_ARCHIVE))
        self.out.flush()
