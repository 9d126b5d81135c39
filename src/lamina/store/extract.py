"""The safe layer extractor: a layer tar unpacked into a directory, and nothing outside it.

``tarfile`` only parses headers; every file, directory, link and node is made here, relative
to the destination, through directory file descriptors. The rules (see also
``lamina.image.layer.clean_path``):

- Names are cleaned as moby does: absolute names are taken relative to the root and a relative
  name whose ``..`` climbs above the root is refused, naming the entry.
- Parent directories are resolved one component at a time with ``O_NOFOLLOW``; the kernel never
  follows a symlink for us. When a component is a symlink (made by an earlier entry, or by a
  lower layer when stacking into one directory), we resolve it ourselves as if the destination
  were the root of the filesystem: absolute targets start again at the destination, ``..``
  stops at it. That is where docker (chroot) and containerd (RootPath) put such entries, so
  images that work there work here, and an escape is impossible by construction.
- The last component is never followed: an existing entry of another kind is removed (never
  written through) before the new one is made; regular files are made with ``O_EXCL``.
- Hardlink targets are cleaned and resolved the same way and must be an existing non-directory
  inside the destination (moby refuses the rest too). A hardlink to a symlink links the symlink.
- Symlinks are made as they are; their targets are data, never followed by us.
- Whiteouts: in ``overlay`` mode ``.wh.NAME`` becomes a 0/0 character device NAME and
  ``.wh..wh..opq`` sets ``trusted.overlay.opaque=y`` (``user.overlay.opaque`` when not
  permitted), so snapshots stack as overlayfs lowerdirs; in ``apply`` mode (one directory
  holding a whole stack) they delete. ``.wh.``, ``.wh..`` and ``.wh...`` are refused.
- Modes (setuid, setgid, sticky included) are set after content and ownership, through a file
  descriptor; ownership only as root; directory modes and mtimes at the end, deepest first.
  A regular file whose mode has no special bit and survives the umask is created with it, and
  one whose owner is already ours (a new file's: our uid, and our gid in a directory known not
  to be setgid) is not chowned: two system calls fewer for most files of most layers.
- Xattrs come from PAX ``SCHILY.xattr.*`` records, filtered by ``xattr_allowed``; where the
  filesystem or our privileges refuse one it is counted in ``ExtractStats.skipped``.
- Files of ``DIRECT_MIN`` bytes and more are made here like any other, then their content and
  attributes are handed to a thread that writes them with direct I/O (``lamina.store.direct``)
  while the next entries are made; its failures are raised naming the entry, and the
  extraction returns only once it has written everything.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import tarfile
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, Literal

from lamina.errors import IntegrityError, InvalidArgument, LaminaError, StorageError
from lamina.image._confine import open_dir
from lamina.image.layer import (
    PAX_XATTR,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    TarSource,
    clean_name,
    xattr_allowed,
)
from lamina.image.ustar import next_member
from lamina.store.direct import DirectWriteError
from lamina.store.scratch import remove_tree_at

if TYPE_CHECKING:
    from lamina.store.direct import DirectWriter

CHUNK: Final = 1 << 20
# Files from this size on are written with direct I/O, by a thread (``lamina.store.direct``):
# fewer would not repay a thread hand-off and the disk's latency.
DIRECT_MIN: Final = 1 << 20
_DIR: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS: Final = 40  # as the kernel's ELOOP limit
_CACHE_MAX: Final = 256
_RECENT_MAX: Final = 16
_STORAGE_ERRNOS: Final = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE,
                          errno.ENFILE, errno.ENOMEM}  # fmt: skip
_XATTR_REFUSALS: Final = {errno.EPERM, errno.ENOTSUP, errno.EACCES, errno.E2BIG, errno.ERANGE,
                          errno.EINVAL, errno.ENOSPC}  # fmt: skip

# Every entry is made on the calling thread (only the content of large files is written by
# another, see DIRECT_MIN). Writer threads for small files were tried and measured slower (bench/pull.py, small image: 1.22 s with 4 writers, 0.81 s without, on a
# fresh ext4): each file costs a handful of syscalls, and with three layers unpacking at once
# every one of them became a GIL hand-off between threads; the pull already unpacks its
# layers in parallel, which overlaps the kernel's work.

Whiteouts = Literal["overlay", "apply"]


@dataclass
class ExtractStats:
    """What an extraction made. ``skipped`` names what could not be reproduced (and why)."""

    entries: int = 0
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    nodes: int = 0  # devices and fifos
    whiteouts: int = 0
    opaques: int = 0
    bytes: int = 0  # regular file content
    link_bytes: int = 0  # symlink targets: a symlink's size
    removed: int = 0  # entries removed or replaced (by a later entry or a whiteout)
    skipped: list[str] = field(default_factory=list)

    @property
    def usage(self) -> int | None:
        """What ``lamina.store.snapshots.disk_usage`` would count in a destination that was
        empty (every non-directory's bytes, each inode once: a hardlink adds nothing), when
        nothing was removed; None otherwise, and the tree must be walked."""
        return None if self.removed else self.bytes + self.link_bytes

    def skip(self, what: str) -> None:
        if len(self.skipped) < 100:
            self.skipped.append(what)


class _Refused(Exception):
    """An entry that must not be extracted; becomes an IntegrityError naming the entry."""


class _Node:
    """A real directory below the destination (no symlink on its path), once seen or made.

    The directories an extraction knows form a tree of these, one node per directory: a
    path is looked up one name at a time, and a layer's entries cost memory in proportion
    to their number, not to their paths' lengths (a tuple per path costs the square of the
    depth: 518 MB for one path 10,000 deep).
    """

    __slots__ = ("children", "finish", "made", "name", "parent", "plain", "todo")

    def __init__(self, name: str, parent: _Node | None) -> None:
        self.name = name
        self.parent = parent
        self.children: dict[str, _Node] = {}
        self.finish: tuple[int, int, int] | None = None  # its entry's mode, atime, mtime
        self.todo = False  # it or a directory below it has ``finish`` set
        self.plain = False  # known not to be setgid: a new file gets our own gid
        self.made: set[str] | None = None  # apply mode: names this layer made in it

    def path(self) -> str:
        names: list[str] = []
        node: _Node | None = self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return "/".join(reversed(names))


class _Tree:
    """Directory file descriptors below the destination, found without following symlinks.

    Directories are ``_Node``s; at most ``_CACHE_MAX`` of their O_PATH descriptors are open
    (the least recently used is closed), and a node whose descriptor was closed is opened
    again from its nearest open ancestor, a name at a time. Only the removal of a directory
    changes what a node names: its node (and all below) is dropped from the tree.
    """

    def __init__(self, root_fd: int) -> None:
        self.root = root_fd
        self.top = _Node("", None)
        self._fds: OrderedDict[_Node, int] = OrderedDict()
        # The nodes last looked up, by their path: a layer's entries come mostly in order, so
        # an entry's directory is one just used, found in one hash (in C) of its path instead
        # of a dict step per name (a deep layer's paths are thousands of names long).
        self._recent: dict[str, _Node] = {}

    def clear(self) -> None:
        """Close every cached descriptor (the nodes stay)."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def dir(self, path: str, *, create: bool) -> int:
        """An O_PATH descriptor of the directory ``path`` (clean, '/'-separated), made (0755)
        if missing and ``create``."""
        return self.fd(self.node(path, create=create))

    def fd(self, node: _Node) -> int:
        """The node's descriptor, opened again (from its nearest open ancestor) if closed."""
        if node.parent is None:
            return self.root
        fd = self._fds.get(node)
        if fd is not None:
            self._fds.move_to_end(node)
            return fd
        chain: list[_Node] = []
        base: _Node | None = node
        while base is not None and base.parent is not None and base not in self._fds:
            chain.append(base)
            base = base.parent
        fd = self.root if base is None or base.parent is None else self._fds[base]
        for below in reversed(chain):
            fd = self._cache(below, open_dir(fd, below.name, path_only=True))
        return fd

    def _cache(self, node: _Node, fd: int) -> int:
        self._fds[node] = fd
        if len(self._fds) > _CACHE_MAX:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        return fd

    def node(self, path: str, *, create: bool) -> _Node:
        """The node of directory ``path`` (clean, '/'-separated, "" for the top), resolving
        symlinks inside the destination. The path is split into its names only when neither
        it nor its parent is a directory just used."""
        found = self._recent.get(path)
        if found is not None:
            return found
        node = self.top
        above, _, last = path.rpartition("/")
        parent = self._recent.get(above) if above else None
        if parent is not None:  # a directory below one just used
            node, todo = parent, deque((last,))
        else:
            todo = deque(path.split("/"))
        links = 0
        while todo:
            part = todo.popleft()
            if part in ("", "."):
                continue
            if part == "..":  # only from symlink targets; names are cleaned
                node = node.parent or node
                continue
            sub = node.children.get(part)
            if sub is not None:
                node = sub
                continue
            pfd = self.fd(node)
            try:
                fd = open_dir(pfd, part, path_only=True)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=pfd)
                fd = open_dir(pfd, part, path_only=True)
            except (NotADirectoryError, OSError) as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                st = os.stat(part, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    where = f"{node.path()}/{part}".lstrip("/")
                    raise _Refused(f"{where!r} is not a directory") from None
                links += 1
                if links > _MAX_LINKS:
                    raise _Refused("too many levels of symbolic links") from None
                target = os.readlink(part, dir_fd=pfd)
                if target.startswith("/"):
                    node = self.top
                todo.extendleft(reversed(target.split("/")))
                continue
            sub = node.children[part] = _Node(part, node)
            self._cache(sub, fd)
            node = sub
        if not links:  # (a path through a symlink may lead elsewhere another time)
            self._recent[path] = node
            if len(self._recent) > _RECENT_MAX:
                del self._recent[next(iter(self._recent))]
        return node

    def forget(self, parent: _Node, name: str) -> None:
        """Directory ``name`` of ``parent`` is being removed: drop its node and all below
        (their cached descriptors are closed when the cache lets them go)."""
        gone = parent.children.pop(name, None)
        if gone is not None:
            self._recent.clear()
            stack = [gone]
            while stack:
                node = stack.pop()
                fd = self._fds.pop(node, None)
                if fd is not None:
                    os.close(fd)
                stack.extend(node.children.values())
                node.children = {}

    def mark(self, node: _Node, mode: int, atime: int, mtime: int) -> None:
        """Set ``node``'s mode and times once the extraction ends (see ``finish``)."""
        node.finish = (mode, atime, mtime)
        while node is not None and not node.todo:  # each node is marked once: linear
            node.todo = True
            node = node.parent  # type: ignore[assignment]

    def finish(self) -> None:
        """Set the marked directories' modes and times, each after everything below it.

        A walk down by name and back up by "..", one directory open at a time: the modes can
        take away the owner's access (0555, 0000), so a directory is only changed once
        nothing below it is left to do, and once its parent is open again.
        """
        if not self.top.todo:
            return
        fd = os.dup(self.root)
        stack: list[tuple[_Node, list[_Node]]] = [(self.top, self._pending(self.top))]
        try:
            while stack:
                node, children = stack[-1]
                if children:
                    child = children.pop()
                    try:
                        sub = open_dir(fd, child.name)
                    except OSError:
                        continue  # replaced by something else meanwhile: nothing to set
                    os.close(fd)
                    fd = sub
                    stack.append((child, self._pending(child)))
                    continue
                stack.pop()
                parent = os.open("..", _DIR, dir_fd=fd) if stack else -1
                if node.finish is not None:
                    mode, atime, mtime = node.finish
                    os.fchmod(fd, mode & 0o7777)
                    os.utime(fd, ns=(atime, mtime))
                os.close(fd)
                fd = parent
        finally:
            if fd >= 0:
                os.close(fd)

    @staticmethod
    def _pending(node: _Node) -> list[_Node]:
        return [child for child in node.children.values() if child.todo]


def extract_layer(
    tar_stream: BinaryIO,
    dest: Path,
    *,
    whiteouts: Whiteouts = "overlay",
    same_owner: bool | None = None,
    max_entries: int | None = None,
) -> ExtractStats:
    """Unpack the layer tar read from ``tar_stream`` into the existing directory ``dest``.

    The stream is read to its end (a tar's trailing padding is part of its diff_id). Raises
    IntegrityError naming the entry for a hostile or corrupt tar, StorageError when the disk
    fails; what was extracted so far stays (the caller extracts into a temporary directory).
    ``same_owner`` defaults to "running as root". A layer of more than ``max_entries``
    entries is refused (``LayerLimits``).
    """
    if whiteouts not in ("overlay", "apply"):
        raise InvalidArgument(f"unknown whiteout mode {whiteouts!r}")
    try:
        root_fd = os.open(dest, _DIR)
    except OSError as exc:
        raise StorageError(f"cannot open layer directory {dest}: {exc.strerror}") from exc
    source = TarSource(tar_stream)
    job = _Extraction(
        root_fd, source, whiteouts, os.geteuid() == 0 if same_owner is None else same_owner
    )
    job.max_entries = max_entries
    try:
        job.run()
        source.finish()
    finally:
        if job.writer is not None:  # failed: the files it holds are closed, nothing raised
            job.writer.stop()
        job.tree.clear()
        os.close(root_fd)
    return job.stats


class _Extraction:
    def __init__(self, root_fd: int, source: TarSource, whiteouts: Whiteouts, owner: bool) -> None:
        self.tree = _Tree(root_fd)
        self.source = source
        self.apply = whiteouts == "apply"
        self.owner = owner
        self.uid, self.gid = os.geteuid(), os.getegid()
        self.root = self.uid == 0
        self.umask = _umask()
        self.stats = ExtractStats()
        # Directories known not to be setgid, in which a new file gets our own gid: the root if
        # it is not, and those whose mode this extraction set (``_Node.plain``).
        self.tree.top.plain = not os.fstat(root_fd).st_mode & stat.S_ISGID
        self.parent = self.tree.top  # the directory of the entry being made
        self.writer: DirectWriter | None = None  # for large files, made at the first
        self.max_entries: int | None = None

    def run(self) -> None:
        try:
            tar = tarfile.TarFile(fileobj=self.source, mode="r")  # type: ignore[arg-type]
        except tarfile.TarError as exc:
            if self.source.tell() == 0:  # an empty stream is an empty layer, as for Go's tar
                return
            raise IntegrityError(f"layer is not a valid tar: {exc}") from exc
        while True:
            try:
                member = next_member(tar, self.source)
            except tarfile.TarError as exc:
                raise IntegrityError(f"layer is not a valid tar: {exc}") from exc
            if member is None:
                break
            self.stats.entries += 1
            if self.max_entries is not None and self.stats.entries > self.max_entries:
                raise IntegrityError(f"layer has more than {self.max_entries} entries (the "
                                     "limit is max_entries in config.toml [layers])")
            self.guarded(member.name, functools.partial(self.entry, tar, member))
        self.guarded("", self.finish_writes)
        try:
            self.finish_dirs()
        except OSError as exc:
            raise StorageError(f"cannot set directory attributes: {exc.strerror}") from exc

    @staticmethod
    def guarded(name: str, action: Callable[[], None]) -> None:
        """Run ``action`` for entry ``name``, its failures as one-line lamina errors."""
        try:
            action()
        except _Refused as exc:
            raise IntegrityError(f"layer entry {name!r} refused: {exc}") from None
        except InvalidArgument as exc:
            raise IntegrityError(exc.message) from None
        except OSError as exc:
            cls = StorageError if exc.errno in _STORAGE_ERRNOS else IntegrityError
            raise cls(f"cannot extract layer entry {name!r}: {exc.strerror}") from exc
        except ValueError as exc:  # a NUL byte in a link target, for one
            raise IntegrityError(f"cannot extract layer entry {name!r}: {exc}") from exc
        except DirectWriteError as exc:  # a large file written in the background
            error = exc.error
            if isinstance(error, LaminaError):
                raise error from None
            cls = StorageError
            if isinstance(error, OSError) and error.errno not in _STORAGE_ERRNOS:
                cls = IntegrityError
            detail = error.strerror if isinstance(error, OSError) else str(error)
            raise cls(f"cannot extract layer entry {exc.what!r}: {detail}") from error

    def entry(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        path = clean_name(m.name)
        above, _, base = path.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            return self.whiteout(above, base)
        if not path:
            if not m.isdir():
                raise _Refused("only a directory may name the layer root")
            self.tree.mark(self.tree.top, m.mode, *_times(m))
            return None
        self.parent = self.tree.node(above, create=True)
        pfd = self.tree.fd(self.parent)
        if self.apply:
            if self.parent.made is None:
                self.parent.made = set()
            self.parent.made.add(base)
        if m.isreg():
            self.file(tar, m, pfd, base)
        elif m.isdir():
            self.directory(m, pfd, path, base)
        elif m.issym():
            self.clear(pfd, base)
            os.symlink(m.linkname, base, dir_fd=pfd)
            self.finish_link(m, pfd, base)
            self.stats.symlinks += 1
            self.stats.link_bytes += len(os.fsencode(m.linkname))
        elif m.islnk():
            self.hardlink(m, pfd, base)
        elif m.ischr() or m.isblk() or m.isfifo():
            self.node(m, pfd, base)
        else:
            raise _Refused(f"unsupported tar entry type {m.type!r}")
        return None

    def clear(self, pfd: int, name: str, *, keep_dir: bool = False) -> bool:
        """Remove what ``name`` is, never following it; True if a directory was kept."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode) and keep_dir:
            return True
        self.stats.removed += 1
        if stat.S_ISDIR(st.st_mode):
            self.tree.forget(self.parent, name)
            remove_tree_at(pfd, name)  # iterative: a layer can nest deeper than recursion goes
        else:
            os.unlink(name, dir_fd=pfd)
        return False

    def file(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        mode = m.mode & 0o7777
        # Made with its mode when nothing would change it (no special bit for a chown to clear,
        # nothing the umask takes away); else private until its content and owner are set.
        final = not (mode & 0o7000 or mode & self.umask)
        try:
            fd = os.open(name, _NEW_FILE, mode if final else 0o600, dir_fd=pfd)
        except FileExistsError:
            self.clear(pfd, name)
            fd = os.open(name, _NEW_FILE, mode if final else 0o600, dir_fd=pfd)
        chown = self.owner and not (m.uid == self.uid and m.gid == self.gid
                                    and self.parent.plain)
        self.stats.files += 1
        self.stats.bytes += m.size
        if m.sparse is None and m.size >= DIRECT_MIN:
            return self.direct_file(m, fd, chown, not final)
        try:
            if m.sparse is not None:
                self.copy_sparse(tar, m, fd)
            elif m.size:
                self.source.copy_to(fd, m.offset_data, m.size, m.name)
            self.attributes(m, fd, chown, not final)
        finally:
            os.close(fd)
        return None

    def attributes(self, m: tarfile.TarInfo, fd: int, chown: bool, chmod: bool) -> None:
        """Owner, mode, xattrs and times of a regular file, once its content is written."""
        if chown:
            os.fchown(fd, m.uid, m.gid)  # before the mode: chown clears setuid and setgid
        if chmod:
            os.fchmod(fd, m.mode & 0o7777)
        self.xattrs(m, fd)
        os.utime(fd, ns=_times(m))

    def direct_file(self, m: tarfile.TarInfo, fd: int, chown: bool, chmod: bool) -> None:
        """A large file's content to the direct writer, which then sets its attributes and
        closes it (see ``lamina.store.direct``): the extraction goes on meanwhile."""
        if self.writer is None:
            from lamina.store.direct import DirectWriter

            self.writer = DirectWriter(blocks=4, name="layer-writer")
        try:
            file = self.writer.open(fd, what=m.name, close=True)
        except BaseException:
            os.close(fd)
            raise
        try:
            self.source.seek(m.offset_data)
            size = m.size
            while size:
                # TarSource's own buffer, as copy_to writes it (no copy on the way).
                view = self.source._take(min(size, CHUNK))
                if not view:
                    raise IntegrityError(f"layer is truncated in entry {m.name!r}")
                file.write(view)
                size -= len(view)
        except BaseException:
            file.close()
            raise
        file.close(functools.partial(self.attributes, m, fd, chown, chmod))

    def finish_writes(self) -> None:
        """Wait until the direct writer has written everything; raise what failed there."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.finish()

    def copy_sparse(self, tar: tarfile.TarFile, m: tarfile.TarInfo, fd: int) -> None:
        reader = tar.extractfile(m)
        assert reader is not None
        while data := reader.read(CHUNK):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

    def finish_link(self, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        if self.owner:
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(name, ns=_times(m), dir_fd=pfd, follow_symlinks=False)

    def directory(self, m: tarfile.TarInfo, pfd: int, path: str, name: str) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=pfd)
        except FileExistsError:
            if not self.clear(pfd, name, keep_dir=True):
                os.mkdir(name, 0o700, dir_fd=pfd)
        fd = open_dir(pfd, name)
        try:
            if self.owner:
                os.fchown(fd, m.uid, m.gid)
            # Owner rwx until the end, so the entries below can be made whatever the mode.
            os.fchmod(fd, (m.mode & 0o7777) | 0o700)
            self.xattrs(m, fd)
        finally:
            os.close(fd)
        node = self.tree.node(path, create=False)
        node.plain = not m.mode & stat.S_ISGID
        self.tree.mark(node, m.mode, *_times(m))
        self.stats.dirs += 1

    def hardlink(self, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        target = clean_name(m.linkname, what="hardlink target")
        if not target:
            raise _Refused("hardlink to the layer root")
        above, _, tname = target.rpartition("/")
        try:
            tfd = self.tree.dir(above, create=False)
            st = os.stat(tname, dir_fd=tfd, follow_symlinks=False)
        except FileNotFoundError:
            raise _Refused(f"hardlink target {m.linkname!r} does not exist in the layer") from None
        if stat.S_ISDIR(st.st_mode):
            raise _Refused(f"hardlink target {m.linkname!r} is a directory")
        self.clear(pfd, name)
        os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        self.stats.hardlinks += 1

    def node(self, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        if m.isfifo():
            kind = stat.S_IFIFO
        elif not self.root:
            self.stats.skip(f"{m.name}: device node (not root)")
            return
        else:
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        self.clear(pfd, name)
        os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        # An O_PATH descriptor reached through /proc changes the node itself, never opening
        # it (a fifo would block, a device would wake its driver).
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            proc = f"/proc/self/fd/{fd}"
            if self.owner:
                os.chown(proc, m.uid, m.gid)
            os.chmod(proc, m.mode & 0o7777)
            os.utime(proc, ns=_times(m))
        finally:
            os.close(fd)
        self.stats.nodes += 1

    def whiteout(self, above: str, base: str) -> None:
        try:
            # A snapshot needs the parent to hold the whiteout; a flattened tree without it
            # has nothing to delete.
            self.parent = self.tree.node(above, create=not self.apply)
            pfd = self.tree.fd(self.parent)
        except FileNotFoundError:
            return None
        if base == WHITEOUT_OPAQUE:
            self.stats.opaques += 1
            return self.opaque(pfd)
        if base.startswith(WHITEOUT_META_PREFIX):  # aufs bookkeeping (.wh..wh.plnk ...)
            return None
        name = base[len(WHITEOUT_PREFIX) :]
        if name in ("", ".", ".."):
            raise _Refused("whiteout of no name, of its own directory or of its parent")
        self.stats.whiteouts += 1
        self.clear(pfd, name)
        if not self.apply:
            try:
                os.mknod(name, stat.S_IFCHR | 0o600, 0, dir_fd=pfd)
            except PermissionError:
                raise StorageError(
                    "cannot make overlayfs whiteouts here (mknod of a 0/0 device refused)",
                    hint="run as root, or on Linux 5.8 or later",
                ) from None
        return None

    def opaque(self, pfd: int) -> None:
        fd = os.open(".", _DIR, dir_fd=pfd)
        try:
            if self.apply:
                made = self.parent.made or set()
                for entry in os.listdir(fd):
                    if entry not in made:
                        self.clear(fd, entry)
                return
            try:
                os.setxattr(fd, "trusted.overlay.opaque", b"y")
            except PermissionError:
                os.setxattr(fd, "user.overlay.opaque", b"y")
        finally:
            os.close(fd)

    def xattrs(self, m: tarfile.TarInfo, fd: int) -> None:
        for key, value in m.pax_headers.items():
            if not key.startswith(PAX_XATTR):
                continue
            name = key[len(PAX_XATTR) :]
            if not xattr_allowed(name):
                self.stats.skip(f"{m.name}: xattr {name} (not allowed from a layer)")
                continue
            try:
                os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
            except OSError as exc:
                if exc.errno not in _XATTR_REFUSALS:
                    raise
                self.stats.skip(f"{m.name}: xattr {name} ({exc.strerror})")

    def finish_dirs(self) -> None:
        self.tree.finish()


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread);
    0o777 where it cannot be read, so that every mode is set explicitly."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


def _ns(value: str | float | int) -> int:
    """Nanoseconds from a PAX time ("1700000000.123456789") or tarfile's number, exactly."""
    if isinstance(value, str):
        sec, _, frac = value.partition(".")
        neg = sec.startswith("-")
        whole = int(sec or "0") * 1_000_000_000
        part = int((frac + "000000000")[:9]) if frac.isdigit() else 0
        return whole - part if neg else whole + part
    return int(value * 1_000_000_000) if isinstance(value, float) else value * 1_000_000_000


def _times(m: tarfile.TarInfo) -> tuple[int, int]:
    mtime = _ns(m.pax_headers.get("mtime", m.mtime))
    atime = _ns(m.pax_headers["atime"]) if "atime" in m.pax_headers else mtime
    return atime, mtime


__all__ = ["ExtractStats", "Whiteouts", "extract_layer"]
