"""The steps that make a layer: COPY and ADD, WORKDIR (when it makes the directory), RUN.

Each builds its layer in a fresh directory of the store's scratch area, on top of the stage's
layers as they are (``MergedTree`` over their snapshots), and commits it with
``commit_layer``. Nothing is ever written outside that directory: destinations are resolved
inside the image's rootfs (its symlinks followed only within it), then created below
descriptors the step opened itself.
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import os
import secrets
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from lamina.build.commit import MAX_LAYER_SIZE, ImageState, commit_layer
from lamina.build.copier import Copier, CopyOptions, make_dir, write_file
from lamina.build.rootfs import Entry, MergedTree, UpperDir, split_path
from lamina.errors import BuildError, ContainerError
from lamina.store import LayerRecord, Store

# Mount points the runtime makes when an image lacks them: not the step's doing.
if TYPE_CHECKING:
    from lamina.runtime.step import StepLimits

_MOUNT_STUBS = ("proc", "sys", "dev")


@dataclass(frozen=True)
class Source:
    """One COPY/ADD source: an entry of a tree, or (a heredoc) bytes to write."""

    name: str
    tree: MergedTree | None = None
    entry: Entry | None = None
    data: bytes | None = None
    unpack: bool = True  # ADD unpacks it if it is a tar archive (not a download)


def lower_tree(store: Store, state: ImageState) -> MergedTree:
    return MergedTree([store.snapshots.path(c) for c in state.chain_ids])


def absolute(path: str, workdir: str) -> str:
    if path.startswith("/"):
        return path
    base = workdir or "/"
    return base.rstrip("/") + "/" + path


def copy_layer(store: Store, state: ImageState, sources: Sequence[Source], dest: str,
               workdir: str, options: CopyOptions, *, archives: CopyOptions | None,
               source_date_epoch: int | None) -> LayerRecord:
    """COPY's (or, with ``archives``, ADD's) layer; ``archives``: how to copy what a local
    tar archive holds (its own owners unless --chown)."""
    lower = lower_tree(store, state)
    into_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "")
    if len(sources) > 1 and not into_dir:
        raise BuildError("When using COPY with more than one source file, the destination "
                         "must be a directory and end with a /")
    with store.scratch.directory("build") as work:
        upper_path = work / "upper"
        os.mkdir(upper_path, 0o755)
        upper = UpperDir(upper_path, lower)
        target = upper.merged.resolve(absolute(dest, workdir))
        existing = upper.merged.lstat(target)
        into_dir = into_dir or (existing is not None and existing.is_dir)
        copier = Copier(upper, options)
        for n, source in enumerate(sources):
            place = (*target, source.name) if into_dir else target
            if source.data is not None:
                write_file(upper, place, source.data,
                           owner=options.owner or (0, 0), mode=options.chmod or 0o644)
                continue
            assert source.tree is not None and source.entry is not None
            entry = source.entry
            if archives is not None and source.unpack and stat.S_ISREG(entry.st.st_mode):
                unpacked = _unpack_archive(source.tree, entry, work / f"archive-{n}")
                if unpacked is not None:
                    root = unpacked.lstat(())
                    assert root is not None
                    Copier(upper, archives).copy(unpacked, root, target, contents_only=True)
                    continue
            if entry.is_dir:
                copier.copy(source.tree, entry, target, contents_only=True)
            else:
                copier.copy(source.tree, entry, place, contents_only=False)
        return commit_layer(store, upper_path, state.layers, source_date_epoch)


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


def open_archive(fd: int) -> IO[bytes]:
    """A reader of the uncompressed bytes of a file (gzip, bzip2, xz, zstd or plain)."""
    raw = os.fdopen(fd, "rb")
    kind = _sniff(raw.peek(8)[:8])
    if kind == "bzip2":
        return cast(IO[bytes], bz2.BZ2File(raw))
    if kind == "xz":
        return cast(IO[bytes], lzma.LZMAFile(raw))
    if kind in ("gzip", "zstd"):
        from lamina.image.compression import open_decompressed

        return cast(IO[bytes], open_decompressed(cast(BinaryIO, raw), None, MAX_LAYER_SIZE))
    return raw


def is_tar(stream: IO[bytes]) -> bool:
    """Whether the stream starts with a valid tar header (reads 512 bytes)."""
    try:
        block = stream.read(512)
    except (OSError, EOFError, ValueError, lzma.LZMAError):
        return False
    if len(block) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.TarError:
        return False
    return True


def _unpack_archive(tree: MergedTree, entry: Entry, directory: Path) -> MergedTree | None:
    """ADD's local archives: a tar (plain, gzip, bzip2, xz, zstd) unpacked safely, or None."""
    with open_archive(tree.open_file(entry)) as probe:
        if not is_tar(probe):
            return None
    from lamina.store.extract import extract_layer

    os.mkdir(directory, 0o755)
    with open_archive(tree.open_file(entry)) as stream:
        try:
            extract_layer(cast(BinaryIO, stream), directory, whiteouts="apply")
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise BuildError(f"ADD failed: cannot unpack /{'/'.join(entry.parts)}: {exc}") from exc
    return MergedTree([directory], whiteouts=False)


def workdir_layer(store: Store, state: ImageState, path: str, owner: tuple[int, int] | None,
                  source_date_epoch: int | None) -> LayerRecord | None:
    """WORKDIR's layer: the directory (and its parents) when missing; None when it exists."""
    lower = lower_tree(store, state)
    target = lower.resolve(path)
    found = lower.lstat(target)
    if found is not None:
        if not found.is_dir:
            raise BuildError(f"cannot make WORKDIR {path}: /{'/'.join(target)} is not a directory")
        return None
    with store.scratch.directory("build") as work:
        upper_path = work / "upper"
        os.mkdir(upper_path, 0o755)
        make_dir(UpperDir(upper_path, lower), target, owner=owner)
        return commit_layer(store, upper_path, state.layers, source_date_epoch)


def run_layer(store: Store, state: ImageState, argv: list[str], *, env: list[str],
              workdir: str, user: str, network: str, output: int,
              script: bytes | None, source_date_epoch: int | None,
              runtime: str | None, state_root: Path | None,
              limits: StepLimits | None = None) -> LayerRecord | None:
    """Run a RUN step's command over the stage's layers; its changes become the layer."""
    if state_root is None:
        raise BuildError("RUN needs the settings' state root (BuildOptions.state_root)")
    try:
        from lamina.runtime import run_step
    except ImportError as exc:
        raise BuildError("RUN needs the container runtime") from exc
    lower = lower_tree(store, state)
    with store.scratch.directory("build") as work:
        upper_path = work / "upper"
        os.mkdir(upper_path, 0o755)
        script_name = None
        if script is not None:
            # A heredoc with a shebang runs as a file; it is removed before the layer is made.
            script_name = f".lamina-heredoc-{secrets.token_hex(6)}"
            fd = os.open(upper_path / script_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
            with os.fdopen(fd, "wb") as f:
                f.write(script)
            argv = [f"/{script_name}", *argv]
        try:
            code = run_step(store, state.chain_ids, upper_path, argv, env=env,
                            workdir=workdir or "/", user=user, network=network,
                            stdout=output, stderr=output, runtime=runtime,
                            state_root=state_root, limits=limits)
        except ContainerError as exc:
            raise BuildError(f"RUN failed: {exc}") from exc
        if script_name is not None:
            os.unlink(upper_path / script_name)
        if code != 0:
            shown = " ".join(argv)
            raise BuildError(f'process "{shown}" did not complete successfully: '
                             f"exit code: {code}")
        _remove_stubs(upper_path, lower)
        if not os.listdir(upper_path):
            return None
        return commit_layer(store, upper_path, state.layers, source_date_epoch)


def _remove_stubs(upper: Path, lower: MergedTree) -> None:
    # --add-host's hosts file over an image that has none: the empty mount point stays out
    with contextlib.suppress(OSError):
        st = os.lstat(upper / "etc" / "hosts")
        if stat.S_ISREG(st.st_mode) and st.st_size == 0 and \
                lower.lstat(split_path("etc/hosts")) is None:
            os.unlink(upper / "etc" / "hosts")
            with contextlib.suppress(OSError):  # and /etc, if it was made for it
                if lower.lstat(split_path("etc")) is None:
                    os.rmdir(upper / "etc")
    for name in _MOUNT_STUBS:
        try:
            st = os.lstat(upper / name)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode) and lower.lstat(split_path(name)) is None:
            try:
                os.rmdir(upper / name)
            except OSError:
                continue  # the step put something there: it is the step's content
