"""Unpacked layers ("snapshots"), one directory per layer keyed by its ChainID.

``snapshots/<alg>/<hex>/fs`` is the layer's diff, unpacked with overlayfs whiteouts so it can be
stacked as a lowerdir; ``meta.json`` beside it records its diff_id and sizes. A layer is unpacked
into a locked directory in ``tmp/``, its uncompressed bytes hashed on the way and checked against
the diff_id, flushed to disk, and only then renamed into place: a snapshot directory that exists
is complete. Two processes unpacking the same layer race harmlessly: the first rename wins and the
second finds the directory taken, drops its copy and uses the winner's.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lamina.errors import InvalidDigest, NotFound, StorageError
from lamina.model.digest import ALGORITHMS, Digest
from lamina.model.limits import LayerLimits
from lamina.store.blobs import fsync_directory
from lamina.store.lease import Lease
from lamina.store.scratch import Scratch

_HEX = re.compile(r"[a-f0-9]+")
META = "meta.json"
FS = "fs"


class SnapshotStore:
    """The ``snapshots/`` directory of a store."""

    def __init__(self, root: Path, scratch: Scratch, lease: Lease | None = None, *,
                 limits: LayerLimits | Callable[[], LayerLimits] | None = None) -> None:
        self.root = root
        self._scratch = scratch
        self._lease = lease
        # The bounds on what a layer may expand to; a callable is asked at the first unpack
        # (they come from the config file, which commands that unpack nothing never read).
        self._limits = limits

    @property
    def limits(self) -> LayerLimits:
        if self._limits is None:
            self._limits = LayerLimits()
        elif callable(self._limits):
            self._limits = self._limits()
        return self._limits

    def directory(self, chain_id: Digest) -> Path:
        """The snapshot's own directory (holding ``fs/`` and ``meta.json``)."""
        algorithm, _, hex_ = str(chain_id).partition(":")
        if ALGORITHMS.get(algorithm) != len(hex_) or not _HEX.fullmatch(hex_):
            raise InvalidDigest(f"invalid chain id {str(chain_id)!r}")
        return self.root / algorithm / hex_

    def path(self, chain_id: Digest) -> Path:
        """The unpacked layer: an overlayfs lowerdir."""
        return self.directory(chain_id) / FS

    def has(self, chain_id: Digest) -> bool:
        return self.directory(chain_id).is_dir()

    def meta(self, chain_id: Digest) -> dict[str, Any]:
        try:
            data = json.loads((self.directory(chain_id) / META).read_bytes())
        except FileNotFoundError:
            raise NotFound(f"layer {chain_id} is not unpacked in the store") from None
        if not isinstance(data, dict):
            raise StorageError(f"snapshot {chain_id}: {META} is not an object")
        return data

    def size(self, chain_id: Digest) -> int:
        """The unpacked size, as docker counts it (see ``disk_usage``)."""
        return int(self.meta(chain_id)["size"])

    def unpack(
        self,
        chain_id: Digest,
        stream: BinaryIO,
        media_type: str,
        diff_id: Digest,
        max_size: int,
        *,
        check: Callable[[], None] | None = None,
    ) -> int:
        """Unpack a layer blob (gzip, zstd or plain tar) as snapshot ``chain_id``.

        The uncompressed stream must have digest ``diff_id`` and at most ``max_size`` bytes, or
        IntegrityError is raised and nothing is left behind. Returns the unpacked size. If the
        snapshot exists, returns its size without reading ``stream``. ``check`` is called once
        the diff_id is verified and before the snapshot is made visible: a pull, unpacking a
        blob while it downloads, checks the blob's own digest there.
        """
        final = self.directory(chain_id)
        diff_id = Digest.parse(diff_id)
        if self._lease is not None:
            self._lease.hold()  # keeps gc off it until the image that uses it is recorded
        existing = self._existing_size(chain_id)
        if existing is not None:
            return existing
        # Heavy and only needed here: keep them off the path of read-only commands.
        from lamina.image.compression import open_hashed
        from lamina.store.extract import extract_layer

        with self._scratch.directory("snapshot") as tmp:
            fs = tmp / FS
            os.mkdir(fs, 0o755)
            # Decompressed by one thread and hashed by another while this one unpacks.
            layer = open_hashed(stream, media_type, max_size, diff_id.algorithm, self.limits)
            try:
                stats = extract_layer(layer, fs,  # type: ignore[arg-type]
                                      max_entries=self.limits.max_entries)
                # The digest covers the whole stream, including what follows the tar's end.
                layer.drain()
            finally:
                layer.close()
            layer.hasher.verify(diff_id, what=f"layer {diff_id}")
            if check is not None:
                check()
            # The extractor's count when it is exact (nothing replaced or removed): walking
            # the tree again costs an lstat per entry, each one a GIL hand-off while the other
            # layers unpack (bench/pull.py's small image: ~15% of its largest layer's time).
            size = stats.usage
            if size is None:
                size = disk_usage(fs)
            meta = {
                "chain_id": chain_id,
                "diff_id": diff_id,
                "size": size,
                "tar_size": layer.hasher.size,
                # What could not be reproduced (devices as non-root, refused xattrs).
                "skipped": stats.skipped,
            }
            (tmp / META).write_text(json.dumps(meta))
            # Flush the unpacked files before the rename makes them visible, so that even a
            # power loss cannot leave a snapshot in place with empty files.
            sync_filesystem(tmp)
            final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.rename(tmp, final)
            except OSError as err:
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise StorageError(f"cannot store snapshot {chain_id}: {err}") from err
                # Another process unpacked the same layer first; ours is removed on exit.
                return self.size(chain_id)
            fsync_directory(final.parent)
        return size

    def remove(self, chain_id: Digest) -> int:
        """Remove a snapshot; return the size it had (0 if it was not there).

        It is first renamed into ``tmp/`` so it vanishes from its place at once; if we die
        while deleting, the next cleaning of ``tmp/`` finishes the job.
        """
        directory = self.directory(chain_id)
        size = self._existing_size(chain_id) or 0
        with self._scratch.directory("remove") as tmp:
            try:
                os.rename(directory, tmp / "snapshot")
            except FileNotFoundError:
                return 0
        return size

    def chain_ids(self) -> Iterator[Digest]:
        """Every snapshot in place (a directory scan: for gc and checks)."""
        for algorithm, length in ALGORITHMS.items():
            try:
                with os.scandir(self.root / algorithm) as it:
                    names = [e.name for e in it if e.is_dir(follow_symlinks=False)]
            except FileNotFoundError:
                continue
            for name in names:
                if len(name) == length and _HEX.fullmatch(name):
                    yield Digest(f"{algorithm}:{name}")

    def _existing_size(self, chain_id: Digest) -> int | None:
        try:
            return self.size(chain_id)
        except NotFound:
            return None
        except (ValueError, KeyError) as err:
            raise StorageError(f"snapshot {chain_id}: unreadable {META}: {err}") from err


def disk_usage(directory: Path) -> int:
    """The size docker gives a layer: bytes of every non-directory, hard links counted once."""
    total = 0
    seen: set[int] = set()
    stack = [os.fspath(directory)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except PermissionError:
            continue  # a layer directory with mode 0 seen by a non-root user: not countable
        with it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                    continue
                if st.st_size == 0:
                    continue
                if st.st_nlink > 1:
                    if st.st_ino in seen:
                        continue
                    seen.add(st.st_ino)
                total += st.st_size
    return total


def sync_filesystem(path: Path) -> None:
    """syncfs(2) on the filesystem holding ``path`` (one call instead of an fsync per file)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(libc, "syncfs", None)
    if syncfs is None:  # not Linux/glibc: the global sync does the same, more broadly
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise StorageError(f"cannot flush {path} to disk: {os.strerror(code)}")
    finally:
        os.close(fd)
