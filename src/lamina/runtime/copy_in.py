"""``docker cp``'s writing side: entries made below a directory, and nowhere else.

``TreeWriter`` makes every entry relative to its root's directory file descriptor. Parent
directories are opened one component at a time with ``O_NOFOLLOW``: a symlink met on the way
(an image's, a hostile archive's, or one swapped in while we write) is never followed, and the
entry is refused. The last component is never followed either: an existing file or symlink is
removed (never written through) and made again, regular files with ``O_EXCL``; a directory is
never replaced by a non-directory nor the other way round (docker's NoOverwriteDirNonDir).
``check`` answers, without writing, whether ``put`` would refuse an entry, so a copy is refused
before anything is written.

``read_tar`` takes a tar from ``lamina cp - CONTAINER:DIR`` (hostile) and validates all of it
before any entry is written: names that are absolute or hold ``..``, a member below a member
that is not a directory (the symlink-then-file-through-it trick), hardlinks to anything but an
earlier regular file of the same archive, devices, fifos and every other special type are
refused, and the whole archive with them. ``tarfile`` only parses; nothing is extracted by it.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections import OrderedDict
from contextlib import suppress
from typing import IO, Literal

from lamina.errors import InvalidArgument
from lamina.image._confine import open_dir
from lamina.image.dirchain import DirChain
from lamina.runtime.copy import CHUNK, Entry
from lamina.runtime.rootpath import in_kernel_dir

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SETID = stat.S_ISUID | stat.S_ISGID
_CACHE_MAX = 256
_RECENT_MAX = 16
_ID_LIMIT = 1 << 32  # uid_t, gid_t
_MTIME_LIMIT = 1 << 40  # a time any filesystem's utime takes

Owner = tuple[int, int] | Literal["keep"] | None


def _parts(name: str) -> tuple[str, ...]:
    parts = tuple(name.split("/"))
    if "" in parts or "." in parts:  # (the tests run in C: a deep tree's names are long)
        return tuple(p for p in parts if p not in ("", "."))
    return parts


def _clean(name: str) -> str:
    """``name`` without empty and "." components. An entry is found by its path as one
    string (split only when its directory is not among those just used): splitting every
    name into its components would cost the square of a deep tree's depth."""
    if (name.startswith(("/", "./")) or name.endswith(("/", "/.")) or "//" in name
            or "/./" in name or name == "."):
        return "/".join(_parts(name))
    return name


class TreeWriter:
    """Entries written below the directory ``root_fd`` (not closed here).

    ``owner``: None leaves new files to us (no chown), "keep" gives each its entry's uid:gid,
    a pair gives every one that pair. ``setid``: keep setuid/setgid bits of files. ``base``:
    the container path of the root, when writing into a container (entries that would land
    in its /proc, /sys or /dev are refused).
    """

    def __init__(self, root_fd: int, *, owner: Owner, setid: bool, base: str | None = None,
                 where: str = "") -> None:
        self.root = root_fd
        self.owner = owner
        self.setid = setid
        self.base = base
        self.where = where  # how messages name the root, e.g. "c1:/dst"
        # The directories below the root met so far, one node each (a path costs a dict step
        # per name, whatever its depth), at most _CACHE_MAX of their descriptors open.
        self.top = _Node("", None)
        self.cache: OrderedDict[_Node, int] = OrderedDict()
        self.dirs: list[tuple[_Node, int, int]] = []  # each directory written: mode, mtime
        self.recent: dict[str, _Node] = {}  # the nodes last looked up, by path
        # Paths last found missing, while nothing is written (check() of a whole copy before
        # its first put(), whose directories are not there yet): what is below one is too.
        self.absent: dict[str, None] = {}

    def _refuse(self, entry: Entry, why: str) -> InvalidArgument:
        path = os.path.join(self.where, entry.name) if self.where else entry.name
        return InvalidArgument(f"cannot copy {path}: {why}")

    # -------------------------------------------------------------------------- checking
    def check(self, entry: Entry) -> bool:
        """Raise InvalidArgument if ``put(entry)`` would be refused in the current tree;
        else whether something is there already."""
        return self._check(entry, *self._split(entry.name))

    def _split(self, name: str) -> tuple[str, str, str]:
        """(``name`` cleaned, its directory's path, its last name). When its directory is one
        just looked up (a clean path), only the last name is checked: scanning every name
        whole would cost the square of a deep tree's depth."""
        above, _, last = name.rpartition("/")
        if (last not in ("", ".") and (above or name == last)
                and (above in self.recent or above in self.absent)):
            return name, above, last
        path = _clean(name)
        above, _, last = path.rpartition("/")
        return path, above, last

    def _check(self, entry: Entry, name: str, above: str, last: str) -> bool:
        if entry.kind == "other":
            raise self._refuse(entry, "devices, fifos and sockets are not copied")
        if self.base is not None and in_kernel_dir(
                os.path.join(self.base, name.partition("/")[0])):
            raise self._refuse(entry, "/proc, /sys and /dev of a container are not written")
        if not name:
            if entry.kind != "dir":
                raise self._refuse(entry, "only a directory may be the destination itself")
            return True
        pfd = self._parent(entry, above, create=False)
        if pfd is None:
            self._missing(name)
            return False  # below a directory the copy makes
        try:
            st = os.stat(last, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            self._missing(name)
            return False
        if stat.S_ISDIR(st.st_mode) != (entry.kind == "dir"):
            what = "a directory" if stat.S_ISDIR(st.st_mode) else "a non-directory"
            raise self._refuse(entry, f"it would replace {what}")
        return True

    # --------------------------------------------------------------------------- writing
    def put(self, entry: Entry) -> None:
        path, above, name = self._split(entry.name)
        existing = self._check(entry, path, above, name)
        self.absent.clear()  # what is written from here on may make any of them
        if not path:
            return  # the destination itself: its own mode and owner are left alone
        pfd = self._parent(entry, above)
        assert pfd is not None
        kind = entry.kind
        if kind == "dir":
            with suppress(FileExistsError):  # check() saw a directory there
                os.mkdir(name, 0o700, dir_fd=pfd)
            fd = open_dir(pfd, name)
            try:
                self._chown(fd, entry)
                # Owner rwx until the end, so what goes below can be made whatever the mode.
                os.fchmod(fd, stat.S_IMODE(entry.mode) | 0o700)
            finally:
                os.close(fd)
            node = self._node(entry, path, create=False)
            assert node is not None
            self.dirs.append((node, stat.S_IMODE(entry.mode), entry.mtime))
            return
        if existing:
            self._clear(pfd, name)
        if kind == "file":
            self._file(entry, pfd, name)
        elif kind == "symlink":
            os.symlink(entry.link, name, dir_fd=pfd)
            if self.owner is not None:
                uid, gid = self._ids(entry)
                os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, (entry.mtime, entry.mtime), dir_fd=pfd, follow_symlinks=False)
        else:  # a hardlink to an earlier entry of this copy
            target_dir, _, target = _clean(entry.link).rpartition("/")
            pfd = os.dup(pfd)  # (finding the target may let go of cached descriptors)
            try:
                tfd = self._parent(entry, target_dir, create=False)
                if tfd is None or not target:
                    raise self._refuse(entry, f"its hardlink target {entry.link} is missing")
                os.link(target, name, src_dir_fd=tfd, dst_dir_fd=pfd,
                        follow_symlinks=False)
            finally:
                os.close(pfd)

    def _file(self, entry: Entry, pfd: int, name: str) -> None:
        try:
            fd = os.open(name, _NEW_FILE, 0o600, dir_fd=pfd)
        except FileExistsError:  # made since check() looked: never written through
            self._clear(pfd, name)
            fd = os.open(name, _NEW_FILE, 0o600, dir_fd=pfd)
        try:
            left = entry.size
            if entry.fd >= 0:  # from a tree: the kernel copies
                while left and (sent := os.sendfile(fd, entry.fd, None, min(left, 1 << 30))):
                    left -= sent
            while left and entry.read is not None and (data := entry.read(min(CHUNK, left))):
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                left -= len(data)
            self._chown(fd, entry)  # before the mode: chown clears setuid and setgid
            mode = stat.S_IMODE(entry.mode)
            os.fchmod(fd, mode if self.setid else mode & ~_SETID)
            os.utime(fd, (entry.mtime, entry.mtime))
        finally:
            os.close(fd)

    def _ids(self, entry: Entry) -> tuple[int, int]:
        return (entry.uid, entry.gid) if self.owner == "keep" else self.owner  # type: ignore[return-value]

    def _chown(self, fd: int, entry: Entry) -> None:
        if self.owner is not None:
            os.fchown(fd, *self._ids(entry))

    def _clear(self, pfd: int, name: str) -> None:
        """Remove the non-directory ``name`` (check() refused a directory), never following it."""
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=pfd)

    def _parent(self, entry: Entry, path: str, *, create: bool = True) -> int | None:
        """The directory ``path`` (clean, "" for the root) below the root, opened without
        following any symlink; missing ones are made (0755, owned as the entries are), or
        with ``create`` false, None is returned."""
        node = self._node(entry, path, create=create)
        return None if node is None else self._fd(node)

    def _node(self, entry: Entry, path: str, *, create: bool) -> _Node | None:
        # A copy comes parents first: an entry's directory, or that directory's parent, is
        # most often one just used, found by its path in one hash (in C) instead of a dict
        # step per name; only a path met out of order is split into its names.
        node = self.recent.get(path)
        if node is not None:
            return node
        if not path:
            return self.top
        above, _, last = path.rpartition("/")
        if not create and (path in self.absent or above in self.absent):
            self._missing(path)
            return None
        parent = self.recent.get(above) if above else self.top
        names = [last] if parent is not None else path.split("/")
        node = parent if parent is not None else self.top
        for i, part in enumerate(names):
            sub = node.children.get(part)
            if sub is not None:
                node = sub
                continue
            fd = self._fd(node)
            try:
                opened = open_dir(fd, part)
            except FileNotFoundError:
                if not create:
                    self._missing(path)
                    return None
                os.mkdir(part, 0o755, dir_fd=fd)
                opened = open_dir(fd, part)
                try:
                    self._chown(opened, entry._replace(uid=0, gid=0))
                except BaseException:
                    os.close(opened)
                    raise
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                link = stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
                shown = path if parent is not None else "/".join(names[:i + 1])
                raise self._refuse(entry, f"{shown} is not a directory"
                                   + (" (a symlink, not followed)" if link else "")) from None
            sub = node.children[part] = _Node(part, node)
            self._keep(sub, opened)
            node = sub
        self.recent[path] = node
        if len(self.recent) > _RECENT_MAX:
            del self.recent[next(iter(self.recent))]
        return node

    def _missing(self, path: str) -> None:
        self.absent[path] = None
        if len(self.absent) > _RECENT_MAX:
            del self.absent[next(iter(self.absent))]

    def _fd(self, node: _Node) -> int:
        """The node's descriptor, opened again from its nearest open ancestor if it was let go
        (by name, without following symlinks: a swapped-in symlink fails the copy)."""
        if node.parent is None:
            return self.root
        fd = self.cache.get(node)
        if fd is not None:
            self.cache.move_to_end(node)
            return fd
        chain = []
        while node.parent is not None and node not in self.cache:
            chain.append(node)
            node = node.parent
        fd = self.root if node.parent is None else self.cache[node]
        for below in reversed(chain):
            fd = self._keep(below, open_dir(fd, below.name))
        return fd

    def _keep(self, node: _Node, fd: int) -> int:
        self.cache[node] = fd
        if len(self.cache) > _CACHE_MAX:
            os.close(self.cache.popitem(last=False)[1])
        return fd

    def _close_cache(self) -> None:
        for fd in self.cache.values():
            os.close(fd)
        self.cache.clear()

    def close(self) -> None:
        """Let go of every descriptor (finish() does too); safe to call twice."""
        self._close_cache()

    def finish(self) -> None:
        """Directory modes and mtimes, each directory's after everything below it; then let
        go of every descriptor."""
        try:
            self._close_cache()
            self._fix_dirs()
        finally:
            self._close_cache()

    def _fix_dirs(self) -> None:
        # Down the tree of nodes through a DirChain, into only the branches that hold a
        # directory written, each directory fixed on the way back up from it: every one is
        # opened about twice, whatever the depth (from the nearest cached ancestor, a deep
        # tree's would cost the square of its depth).
        fixes = {node: (mode, mtime) for node, mode, mtime in self.dirs}
        wanted: set[_Node] = set()
        for node in fixes:
            while node is not None and node not in wanted:
                wanted.add(node)
                node = node.parent  # type: ignore[assignment]
        if not fixes:
            return
        chain = DirChain(os.dup(self.root))
        try:
            path = [self.top]
            todo = [iter(self.top.children.values())]
            while todo:
                child = next(todo[-1], None)
                if child is None:
                    todo.pop()
                    node = path.pop()
                    if node.parent is None:
                        continue
                    chain.pop()
                    fix = fixes.get(node)
                    if fix is not None:
                        fd = open_dir(chain.top(), node.name)
                        try:
                            os.fchmod(fd, fix[0])
                            os.utime(fd, (fix[1], fix[1]))
                        finally:
                            os.close(fd)
                elif child in wanted:
                    chain.push(child.name)
                    path.append(child)
                    todo.append(iter(child.children.values()))
        finally:
            chain.close()


class _Node:
    """A directory below the writer's root: its name, its parent, the children met."""

    __slots__ = ("children", "name", "parent")

    def __init__(self, name: str, parent: _Node | None) -> None:
        self.name = name
        self.parent = parent
        self.children: dict[str, _Node] = {}


def read_tar(stream: IO[bytes]) -> list[Entry]:
    """The entries of the (seekable, hostile) tar ``stream``, all validated before any is
    returned; ``read`` of a file entry reads its content from the stream."""
    try:
        # Not closed here: the entries read their content through it.
        tar = tarfile.open(fileobj=stream, mode="r:*")  # noqa: SIM115
        members = tar.getmembers()
    except (tarfile.TarError, EOFError, ValueError, UnicodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if first.startswith("file could not be opened"):
            first = "neither a tar nor a gzip, bzip2 or xz compressed tar"
        raise InvalidArgument(f"the archive read from stdin is not a valid tar: {first}"
                              ) from None
    kinds: dict[tuple[str, ...], str] = {}
    entries: list[Entry] = []
    for m in members:
        parts = _checked(m.name, m.name, "member")
        if m.isreg():
            kind, mode = "file", stat.S_IFREG
        elif m.isdir():
            kind, mode = "dir", stat.S_IFDIR
        elif m.issym():
            kind, mode = "symlink", stat.S_IFLNK
            if "\x00" in m.linkname:
                raise _refused(m.name, "a NUL byte in its target")
        elif m.islnk():
            kind, mode = "hardlink", stat.S_IFREG
            target = _checked(m.linkname, m.name, "hardlink target")
            if kinds.get(target) != "file":
                raise _refused(m.name, f"hardlink to {m.linkname!r}, which is not an earlier "
                                       "regular file of the archive")
        else:
            raise _refused(m.name, "devices, fifos and other special files are not copied")
        if not (0 <= m.uid < _ID_LIMIT and 0 <= m.gid < _ID_LIMIT):
            raise _refused(m.name, f"owner {m.uid}:{m.gid} out of range")
        if not parts and kind != "dir":
            raise _refused(m.name, "only a directory may name the destination itself")
        for i in range(1, len(parts)):
            above = kinds.get(parts[:i])
            if above not in (None, "dir"):
                raise _refused(m.name, f"{'/'.join(parts[:i])} is a {above} in the archive")
        before = kinds.get(parts)
        if before is not None and (before == "dir") != (kind == "dir"):
            raise _refused(m.name, "a directory and a non-directory of the same name")
        kinds[parts] = "file" if kind == "hardlink" else kind
        data = tar.extractfile(m) if kind == "file" else None
        entries.append(Entry(
            "/".join(parts), mode | stat.S_IMODE(m.mode), m.uid, m.gid,
            min(max(int(m.mtime), 0), _MTIME_LIMIT),
            m.size if kind == "file" else 0,
            "/".join(target) if kind == "hardlink"
            else m.linkname if kind == "symlink" else "",
            kind == "hardlink", data.read if data is not None else None,
        ))
    return entries


def _refused(name: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"archive refused, nothing was copied: member {name!r}: {why}")


def _checked(value: str, name: str, what: str) -> tuple[str, ...]:
    if "\x00" in value:
        raise _refused(name, f"a NUL byte in its {what} name")
    if value.startswith("/"):
        raise _refused(name, f"absolute {what} name {value!r}")
    if ".." in value.split("/"):
        raise _refused(name, f"'..' in its {what} name {value!r}")
    return _parts(value)
