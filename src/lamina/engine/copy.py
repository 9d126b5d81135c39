"""docker cp: files between a container and the local filesystem, or a tar on stdin/stdout.

Container paths are resolved inside the container's root (``RootFS``), whatever its symlinks.
Copying out reads the read-only view ``export`` uses (running or not, nothing is written to
the container). Copying in writes through the container's own rootfs mount: the live one of a
running container, which sees the files at once; a stopped container's is mounted for the
copy and unmounted after. Destinations follow docker's rules (``_target``). Every entry is
checked before the first is written, so a refused copy leaves both sides as they were.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC
from pathlib import Path
from typing import IO, NamedTuple

from lamina.engine.containers import find
from lamina.errors import ContainerError, InvalidArgument, NotFound, StorageError
from lamina.runtime.copy import END_OF_ARCHIVE, Entry, TarWriter, entry_bytes, walk
from lamina.runtime.copy_in import Owner, TreeWriter, read_tar
from lamina.runtime.rootpath import RootFS, in_kernel_dir
from lamina.store import Store

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE,
                   errno.ENFILE, errno.ENOMEM}


class Source(NamedTuple):
    """What to copy: ``name`` in the directory ``parent_fd``, called ``base`` at the other
    end; ``contents``: a directory's contents only (``SRC/.``)."""

    parent_fd: int
    name: str
    base: str
    is_dir: bool
    contents: bool


def split_arg(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: ("container", "path"), or ("", arg) for a local path (absolute,
    or starting with '.', or without ':')."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def copy_from(store: Store, container: str, src: str, dest: str, out: IO[bytes] | None, *,
              follow: bool = False, archive: bool = False) -> int:
    """Copy the container's ``src`` to the local ``dest`` (or, when ``dest`` is "-", as a tar
    to ``out``). Returns the bytes a tar of it weighs (what docker reports)."""
    from lamina.engine.commit import _read_only_view

    record = find(store, container)
    with _read_only_view(store, record) as root, ExitStack() as stack:
        source = _container_source(root, src, follow, stack, container)
        entries = (e for e in _entries(source, read=True) if e.kind != "other")
        if dest == "-":
            if out is None:
                raise InvalidArgument("no output stream to write the tar to")
            writer = TarWriter(out)
            for entry in _rebase(entries, "." if source.contents else source.base):
                writer.put(entry)
            writer.close()
            return 0
        local = os.path.abspath(dest) + ("/" if dest.endswith("/") else "")
        pfd, top = _local_target(local, source, stack)
        tree = TreeWriter(pfd, owner="keep" if archive else None, setid=archive, where=local)
        stack.callback(tree.close)
        return _copy(source, top, tree, skip_other=True)


def copy_to(store: Store, container: str, src: str, dest: str, stdin: IO[bytes] | None, *,
            follow: bool = False, archive: bool = False) -> int:
    """Copy the local ``src`` (or, when it is "-", the tar read from ``stdin``) to the
    container's ``dest``. Returns the bytes a tar of it weighs (0 for a tar from stdin)."""
    from lamina.runtime.bundle import ContainerDir, mount_rootfs
    from lamina.runtime.mounts import unmount

    record = find(store, container)
    if record.config.get("HostConfig", {}).get("ReadonlyRootfs"):
        raise InvalidArgument("container rootfs is marked read-only")
    owner: Owner = "keep" if archive else (0, 0)
    where = f"{container}:{dest}"
    with ExitStack() as stack:
        entries: list[Entry] | None = None
        source: Source | None = None
        if src == "-":
            if stdin is None:
                raise InvalidArgument("no input stream to read the tar from")
            entries = read_tar(_spool(stdin, store, stack))
        else:
            source = _local_source(src, follow, stack)
        cdir = ContainerDir.of(store, record.id)
        if not os.path.ismount(cdir.rootfs):
            mount_rootfs(store, cdir, record)
            stack.callback(unmount, cdir.rootfs)
        fs = RootFS(cdir.rootfs)
        try:
            resolved = fs.resolve(dest or "/")
        except ContainerError as exc:
            raise InvalidArgument(f"cannot copy to {where}: {exc}") from None
        if in_kernel_dir(resolved):
            raise InvalidArgument(f"cannot copy to {where}: /proc, /sys and /dev of a "
                                  "container are not written")
        state = _container_stat(cdir.rootfs, resolved, stack)
        if entries is not None:
            if state is None or not stat.S_ISDIR(state[0].st_mode):
                raise InvalidArgument(f'destination "{where}" must be a directory')
            tree = TreeWriter(state[1], owner=owner, setid=True, base=resolved, where=where)
            stack.callback(tree.close)  # (before the unmount: its descriptors are in there)
            for entry in entries:
                tree.check(entry)
            try:
                for entry in entries:
                    tree.put(entry)
            finally:
                tree.finish()
            return 0
        assert source is not None
        is_dir = state is not None and stat.S_ISDIR(state[0].st_mode)
        top, into_dest = _target(source, dest, state is not None, is_dir, where)
        if into_dest:
            assert state is not None
            pfd, base = state[1], resolved
        else:
            parent = os.path.dirname(resolved.rstrip("/")) or "/"
            found = _container_stat(cdir.rootfs, parent, stack)
            if found is None or not stat.S_ISDIR(found[0].st_mode):
                raise InvalidArgument(f"cannot copy to {where}: no such directory in the "
                                      "container: " + os.path.dirname(dest.rstrip("/")))
            pfd, base = found[1], parent
        tree = TreeWriter(pfd, owner=owner, setid=True, base=base, where=where)
        stack.callback(tree.close)
        return _copy(source, top, tree, skip_other=False)


def _copy(source: Source, top: str, tree: TreeWriter, *, skip_other: bool) -> int:
    for entry in _rebase(_entries(source, read=False), top):
        if not (skip_other and entry.kind == "other"):
            tree.check(entry)
    size = END_OF_ARCHIVE
    try:
        for entry in _rebase(_entries(source, read=True), top):
            if skip_other and entry.kind == "other":
                continue
            size += entry_bytes(entry._replace(name=entry.name or "."))
            tree.put(entry)
    finally:
        tree.finish()
    return size


def _entries(source: Source, *, read: bool) -> Iterator[Entry]:
    # With the contents only (SRC/.) into an existing directory, the first entry is named ""
    # and writes nothing: the destination keeps its own mode and owner.
    return walk(source.parent_fd, source.name, "", read=read)


def _rebase(entries: Iterator[Entry], top: str) -> Iterator[Entry]:
    for entry in entries:
        name = f"{top}/{entry.name}" if top and entry.name else (top or entry.name)
        link = entry.link
        if entry.hardlink:
            link = f"{top}/{link}" if top and link else (top or link)
        yield entry._replace(name=name, link=link)


def _target(source: Source, dest: str, exists: bool, is_dir: bool, where: str
            ) -> tuple[str, bool]:
    """docker's rules: (name of the copy, whether that name is below the destination itself
    rather than below its parent)."""
    if not source.is_dir:
        if exists:
            return (source.base, True) if is_dir else (os.path.basename(dest), False)
        if dest.endswith("/"):
            raise InvalidArgument(f"cannot copy to {where}: the destination directory must "
                                  "exist")
        return os.path.basename(dest), False
    if exists and not is_dir:
        raise InvalidArgument(f"cannot copy a directory to a file: {where}")
    if exists:
        return ("" if source.contents else source.base), True
    return os.path.basename(dest.rstrip("/")), False


# Go's os.FileMode bits, which docker's path stat (``docker cp``'s HEAD) carries.
_GO_MODE = ((stat.S_ISDIR, 1 << 31), (stat.S_ISLNK, 1 << 27), (stat.S_ISBLK, 1 << 26),
            (stat.S_ISFIFO, 1 << 25), (stat.S_ISSOCK, 1 << 24), (stat.S_ISCHR, 1 << 26 | 1 << 21))


def stat_path(store: Store, container: str, path: str) -> dict[str, object]:
    """docker's stat of a container path (name, size, Go file mode, mtime, link target), as
    the API's archive routes answer it; NotFound when it is missing."""
    from datetime import datetime

    from lamina.engine.commit import _read_only_view

    record = find(store, container)
    with _read_only_view(store, record) as root, ExitStack() as stack:
        try:
            resolved = RootFS(root).resolve(path or "/", follow_last=False)
        except ContainerError:
            raise NotFound(f"Could not find the file {path} in container {container}") from None
        found = _container_stat(root, resolved, stack, keep_parent=True)
        if found is None:
            raise NotFound(f"Could not find the file {path} in container {container}")
        st, _pfd, name = found
        mode = stat.S_IMODE(st.st_mode) & 0o777
        for test, bit in _GO_MODE:
            if test(st.st_mode):
                mode |= bit
        for flag, bit in ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22),
                          (stat.S_ISVTX, 1 << 20)):
            if st.st_mode & flag:
                mode |= bit
        target = ""
        if stat.S_ISLNK(st.st_mode):
            target = RootFS(root).resolve(resolved, follow_last=True)
        mtime = datetime.fromtimestamp(st.st_mtime, UTC).isoformat().replace(
            "+00:00", "Z")
        return {"name": name if name != "." else "/", "size": st.st_size, "mode": mode,
                "mtime": mtime, "linkTarget": target}


def _container_source(root: Path, src: str, follow: bool, stack: ExitStack,
                      container: str) -> Source:
    try:
        resolved = RootFS(root).resolve(src or "/", follow_last=follow)
    except ContainerError:
        raise NotFound(f"Could not find the file {src} in container {container}") from None
    found = _container_stat(root, resolved, stack, keep_parent=True)
    if found is None:
        raise NotFound(f"Could not find the file {src} in container {container}")
    st, pfd, name = found
    return _source(st, pfd, name, src)


def _local_source(src: str, follow: bool, stack: ExitStack) -> Source:
    path = os.path.abspath(src)
    if follow:
        path = os.path.realpath(path)
    parent, name = os.path.split(path)
    try:
        pfd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stack.callback(os.close, pfd)
        st = os.stat(name or ".", dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        raise InvalidArgument(f"lstat {path}: no such file or directory") from None
    except NotADirectoryError:
        raise InvalidArgument(f"lstat {path}: not a directory") from None
    return _source(st, pfd, name or ".", src)


def _source(st: os.stat_result, pfd: int, name: str, given: str) -> Source:
    is_dir = stat.S_ISDIR(st.st_mode)
    trimmed = given.rstrip("/")
    contents = trimmed.endswith("/.") or trimmed in ("", ".") or name == "."
    if (contents or given.endswith("/")) and not is_dir:
        raise InvalidArgument(f"{given}: not a directory")
    base = os.path.basename(trimmed.removesuffix("/.")) if not contents else ""
    return Source(pfd, name, base, is_dir, contents and is_dir)


def _container_stat(root: Path, resolved: str, stack: ExitStack, *, keep_parent: bool = False
                    ) -> tuple[os.stat_result, int, str] | None:
    """(lstat, fd, name) of the resolved container path: fd is the directory itself when it is
    one (or, with ``keep_parent``, always its parent directory); None when missing."""
    parts = [p for p in resolved.split("/") if p]
    fd = os.open(root, _DIR)
    stack.callback(os.close, fd)
    if not parts:
        return os.fstat(fd), fd, "."
    try:
        for part in parts[:-1]:
            fd = os.open(part, _DIR, dir_fd=fd)
            stack.callback(os.close, fd)
        st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        if exc.errno == errno.ELOOP:  # swapped for a symlink since it was resolved
            raise InvalidArgument(f"{resolved}: changed while being resolved") from None
        raise
    if stat.S_ISDIR(st.st_mode) and not keep_parent:
        sub = os.open(parts[-1], _DIR, dir_fd=fd)
        stack.callback(os.close, sub)
        return st, sub, "."
    return st, fd, parts[-1]


def _local_target(local: str, source: Source, stack: ExitStack) -> tuple[int, str]:
    """Open where the copy goes on the local side (the user's own paths: symlinks in them
    are followed) and return (directory fd, name of the copy in it)."""
    if os.path.islink(local.rstrip("/")):  # the user's own symlink: its target is meant
        local = os.path.realpath(local) + ("/" if local.endswith("/") else "")
    try:
        st: os.stat_result | None = os.stat(local)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise InvalidArgument(f"lstat {local}: not a directory") from None
    is_dir = st is not None and stat.S_ISDIR(st.st_mode)
    top, into_dest = _target(source, local, st is not None, is_dir, local)
    directory = local if into_dest else os.path.dirname(local.rstrip("/")) or "/"
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidArgument(f"lstat {directory}: no such file or directory") from None
    stack.callback(os.close, fd)
    return fd, top


def _spool(stdin: IO[bytes], store: Store, stack: ExitStack) -> IO[bytes]:
    """The tar from stdin in a temporary file of the store: read whole, and validated whole,
    before any of it is written."""
    try:
        spool = stack.enter_context(tempfile.TemporaryFile(dir=store.scratch.path))  # noqa: SIM115
        while data := stdin.read(1 << 20):
            spool.write(data)
    except OSError as exc:
        raise StorageError(f"cannot keep the tar read from stdin: {exc.strerror}") from exc
    spool.seek(0)
    return spool


class Copied(NamedTuple):
    """What a copy did: the bytes docker would report, and the destination as it names it
    (None when nothing is reported: a tar to stdout or from stdin)."""

    size: int
    destination: str | None


def copy(store: Store, source: str, destination: str, *, follow: bool = False,
         archive: bool = False, stdin: IO[bytes] | None = None,
         stdout: IO[bytes] | None = None) -> Copied:
    """docker cp SRC DEST, one side of which is CONTAINER:PATH."""
    if not source:
        raise InvalidArgument("source can not be empty")
    if not destination:
        raise InvalidArgument("destination can not be empty")
    src_container, src = split_arg(source)
    dest_container, dest = split_arg(destination)
    if src_container and dest_container:
        raise InvalidArgument("copying between containers is not supported")
    if not (src_container or dest_container):
        raise InvalidArgument("must specify at least one container source")
    try:
        return _copy_one(store, src_container, src, dest_container, dest, destination,
                         follow=follow, archive=archive, stdin=stdin, stdout=stdout)
    except tarfile.TarError as exc:
        raise InvalidArgument(f"the archive read from stdin is not a valid tar: {exc}") from None
    except OSError as exc:
        cls = StorageError if exc.errno in _STORAGE_ERRNOS else InvalidArgument
        raise cls(f"cannot copy {source} to {destination}: {exc.strerror or exc}") from exc


def _copy_one(store: Store, src_container: str, src: str, dest_container: str, dest: str,
              destination: str, *, follow: bool, archive: bool, stdin: IO[bytes] | None,
              stdout: IO[bytes] | None) -> Copied:
    if src_container:
        size = copy_from(store, src_container, src, dest, stdout, follow=follow,
                         archive=archive)
        return Copied(size, None if dest == "-" else os.path.abspath(dest)
                      + ("/" if dest.endswith("/") and dest != "/" else ""))
    size = copy_to(store, dest_container, src, dest, stdin, follow=follow, archive=archive)
    return Copied(size, None if src == "-" else destination)
