"""What a container changed: ``diff``, ``export`` and ``commit``.

The container's writable layer is its ``upper`` directory: overlayfs keeps there every file it
wrote, a 0/0 character device for every file it deleted, and an opaque directory for every
directory it replaced. ``commit`` turns it into a layer tar (``write_layer``: deletions become
``.wh.`` whiteouts) on top of the image's layers, and records a new image whose parent is the
container's image, with one more history entry saying what made it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from lamina.engine.changes import apply_changes
from lamina.engine.containers import find
from lamina.image import mutate
from lamina.model import mediatype
from lamina.model.chain import chain_ids
from lamina.model.config import ImageConfig
from lamina.model.reference import tag_target
from lamina.store import Adding, ContainerRecord, LayerRecord, Store


def changes(store: Store, text: str) -> list[tuple[str, str]]:
    """docker diff: ("A"|"C"|"D", path) for every entry of the writable layer, sorted."""
    record = find(store, text)
    upper = store.containers_dir / record.id / "upper"
    lowers = [store.snapshots.path(layer.chain_id)
              for layer in reversed(store.image(record.image_id).layers)]
    result: list[tuple[str, str]] = []
    for path, st, in_lower in _walk(upper, lowers):
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            result.append(("D", path))
        elif in_lower:
            result.append(("C", path))
        else:
            result.append(("A", path))
    result.sort(key=lambda change: change[1])
    return result


class _Lower:
    """A lower layer walked alongside the upper directory: the same directory in it, while
    it has one (``missing``: from which depth of the walk on it has not)."""

    def __init__(self, path: Path) -> None:
        from lamina.image.dirchain import DirChain

        self.chain: DirChain | None = None
        self.missing = 0
        try:
            self.chain = DirChain(os.open(path, _DIR))
        except OSError:
            self.missing = 1

    def has(self, name: str) -> bool:
        if self.missing or self.chain is None:
            return False
        try:
            os.stat(name, dir_fd=self.chain.top(), follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def push(self, name: str, depth: int) -> None:
        if self.missing or self.chain is None:
            return
        try:
            self.chain.push(name)
        except OSError:  # not there, or not a directory there
            self.missing = depth

    def pop(self, depth: int) -> None:
        if self.missing == depth:
            self.missing = 0
        elif not self.missing and self.chain is not None:
            self.chain.pop()

    def close(self) -> None:
        if self.chain is not None:
            self.chain.close()


def _walk(root: Path, lowers: Sequence[Path]) -> Iterator[tuple[str, os.stat_result, bool]]:
    """Every entry below ``root``: its path, its stat, and whether a lower layer has it.

    Through directory descriptors (``DirChain``), never whole paths: a container can make a
    tree deeper than PATH_MAX, and each lower is followed down the same directories."""
    from lamina.image.dirchain import DirChain

    try:
        chain = DirChain(os.open(root, _DIR))
    except FileNotFoundError:
        return
    below = [_Lower(lower) for lower in lowers]
    # What is left to list at each level, and how long its parent's path is (only the current
    # directory's path is kept: one per level would cost the square of the depth).
    todo = [(iter(sorted(os.listdir(chain.top()))), 0)]
    prefix = ""
    try:
        while todo:
            names, parent_len = todo[-1]
            name = next(names, None)
            if name is None:
                todo.pop()
                prefix = prefix[:parent_len]
                if todo:
                    chain.pop()
                    for lower in below:
                        lower.pop(len(todo))
                continue
            path = f"{prefix}/{name}"
            st = os.stat(name, dir_fd=chain.top(), follow_symlinks=False)
            yield path, st, any(lower.has(name) for lower in below)
            if stat.S_ISDIR(st.st_mode):
                todo.append((iter(sorted(os.listdir(chain.push(name)))), len(prefix)))
                prefix = path
                for lower in below:
                    lower.push(name, len(todo) - 1)
    finally:
        chain.close()
        for lower in below:
            lower.close()


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def _read_only_view(store: Store, record: ContainerRecord) -> Iterator[Path]:
    """The container's filesystem, mounted read-only elsewhere (its upper as a plain lower,
    so a running container keeps its own mount and nothing is written)."""
    from lamina.runtime.mounts import mount_overlay, unmount

    cdir = store.containers_dir / record.id
    layers = [layer.chain_id for layer in store.image(record.image_id).layers]
    with store.scratch.directory("export") as tmp:
        target = tmp / "rootfs"
        target.mkdir()
        mount_overlay(store, layers, None, None, target,
                      extra_top=[cdir / "upper", cdir / "init"])
        try:
            yield target
        finally:
            unmount(target)


def export(store: Store, text: str, out: IO[bytes]) -> None:
    """docker export: the container's whole filesystem as one tar."""
    from lamina.image.layer import write_layer

    record = find(store, text)
    with _read_only_view(store, record) as root:
        write_layer(root, cast(BinaryIO, out))


def commit(store: Store, text: str, reference: str | None = None, *,
           message: str = "", author: str = "", changes_: Sequence[str] = ()) -> str:
    """docker commit: the writable layer as a new layer over the image; the new image's ID."""
    ref = tag_target(reference) if reference else None
    record = find(store, text)
    image = store.image(record.image_id)
    base = ImageConfig.parse(store.blobs.read(image.id))
    container_config = _committed_config(base.config, record)
    container_config = apply_changes(container_config, changes_)
    upper = store.containers_dir / record.id / "upper"
    with store.adding() as tx:
        layer = _store_layer(tx, upper, [layer.diff_id for layer in image.layers])
        data = mutate.replace_config(base.data, container_config, author=author)
        step = mutate.Step(mutate.timestamp(), _command(record), author, message)
        layers = [*image.layers, layer]
        config, manifest = mutate.new_image(mutate.append(data, step, layer.diff_id), layers)
        new = tx.record(config, manifest, layers, parent=image.id)
        if ref is not None:  # (inside: held until tagged, see lamina.store.holds)
            store.tag(new.id, ref)
    return str(new.id)


def _store_layer(tx: Adding, upper: Path, diff_ids: list[Any]) -> LayerRecord:
    from lamina.image.compression import compress_gzip
    from lamina.image.layer import write_layer

    store = tx.store
    with store.scratch.directory("commit") as tmp:
        tar_path = tmp / "layer.tar"
        with tar_path.open("wb") as tar:
            write_layer(upper, tar)
        with tar_path.open("rb") as tar, store.blobs.writer(what="committed layer") as writer:
            digests = compress_gzip(tar, cast(BinaryIO, writer))
    chain = chain_ids([*diff_ids, digests.diff_id])[-1]
    return tx.unpack_blob(LayerRecord(digests.diff_id, chain, digests.digest,
                                      mediatype.OCI_LAYER_GZIP, digests.size, 0))


def _committed_config(image: dict[str, Any], record: ContainerRecord) -> dict[str, Any]:
    """The container's config as an image config: what it ran with becomes the default."""
    config = record.config.get("Config", {})
    result = dict(image)
    for key in ("User", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels", "ExposedPorts",
                "Volumes", "StopSignal", "OnBuild"):
        if key not in config:
            continue
        if config[key]:
            result[key] = config[key]
        else:
            result.pop(key, None)  # overridden to nothing (``--entrypoint ""``)
    return result


def _command(record: ContainerRecord) -> str:
    parts = [record.config.get("Path", ""), *record.config.get("Args", [])]
    return " ".join(parts)
