"""Layers made to hurt: a gzip bomb, paths 10,000 directories deep, a level per entry.

Each is loaded by ``lamina load`` in a jail (``helpers.jail``: the host read-only but for the
test's directory). A bomb is refused while it unpacks, before it fills the disk, with the
limit named; deep trees load in bounded memory and with few descriptors (the open-files limit
is lowered to 1,024 for them), and what they hold is there afterwards.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import resource
import sys
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.images import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    BuiltImage,
    _dumps,
    make_config,
    make_image,
    sha256,
    tar_directory,
    write_oci_layout,
)
from helpers.jail import jailed, needs_jail

pytestmark = pytest.mark.slow

MiB = 1 << 20
PEAK_RSS = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
    "sys.exit(r.returncode)"
)


def gzip_bomb(size: int) -> BuiltImage:
    """An image of one gzip layer holding one file of ``size`` zero bytes (about a thousand
    times smaller compressed), streamed: nothing of its size is ever in memory."""
    header = tarfile.TarInfo("zeros")
    header.size = size
    head = header.tobuf(format=tarfile.PAX_FORMAT)
    tail = bytes(-size % 512) + bytes(1024)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    hasher = hashlib.sha256(head)
    parts = [packer.compress(head)]
    zeros = bytes(MiB)
    for _ in range(size // MiB):
        parts.append(packer.compress(zeros))
        hasher.update(zeros)
    parts += [packer.compress(tail), packer.flush()]
    hasher.update(tail)
    blob = b"".join(parts)
    config = make_config(["sha256:" + hasher.hexdigest()])
    manifest = _dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(blob), "size": len(blob)}],
    })
    return BuiltImage(manifest, config, {sha256(config): config, sha256(blob): blob})


def archive(tmp: Path, image: BuiltImage, name: str = "hostile:1") -> Path:
    """An OCI layout archive (blobs kept compressed, as they came)."""
    path = tmp / "image.tar"
    path.write_bytes(tar_directory(write_oci_layout(tmp / "layout", [(image, name)])))
    return path


def load(tmp: Path, path: Path, *, config: str = "", files: int | None = None
         ) -> tuple[int, str, int]:
    """``lamina load -i path`` in a jail: exit code, stderr without the RSS line, peak RSS
    in KiB."""
    (tmp / "config.toml").write_text(config)
    env = {**os.environ, "LAMINA_ROOT": str(tmp / "store"),
           "LAMINA_CONFIG": str(tmp / "config.toml")}

    def limit_files() -> None:
        if files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    done = jailed([sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "lamina", "load",
                   "-q", "-i", str(path)], [tmp], env=env, preexec_fn=limit_files)
    *lines, rss = done.stderr.strip().splitlines()
    return done.returncode, "\n".join(lines), int(rss)


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    """pytest's own clean-up recurses, and would leave trees this deep behind."""
    yield
    from lamina.store.scratch import remove_tree

    remove_tree(tmp_path)


def store_is_empty(tmp: Path) -> None:
    root = tmp / "store"
    assert os.listdir(root / "tmp") == []
    assert os.listdir(root / "snapshots" / "sha256") == []
    assert os.listdir(root / "blobs" / "sha256") == []


def test_a_gzip_bomb_is_refused_before_it_fills_the_disk(tmp_path: Path) -> None:
    needs_jail()
    bomb = gzip_bomb(1 << 30)  # 1 GiB of zeros, about 1 MB compressed
    code, err, _ = load(tmp_path, archive(tmp_path, bomb))
    assert code == 1
    match = re.fullmatch(r"Error: layer expands more than 200 times its compressed size "
                         r"\((\d+) bytes to more than (\d+)\): refused as a decompression bomb "
                         r"\(the limit is max_ratio in config.toml \[layers\]\)", err)
    assert match, err
    assert int(match.group(2)) < 300 * MiB  # stopped soon after 256 MiB, not at 1 GiB
    store_is_empty(tmp_path)


def test_the_limits_come_from_the_config_file(tmp_path: Path) -> None:
    needs_jail()
    small = gzip_bomb(80 * MiB)  # under the ratio's floor: only max_size can stop it
    path = archive(tmp_path, small)
    code, err, _ = load(tmp_path, path, config="[layers]\nmax_size = 67108864\n")
    assert (code, err) == (1, "Error: layer exceeds 67108864 bytes uncompressed")
    store_is_empty(tmp_path)
    many = make_image([{f"f{i}": b"" for i in range(300)}])
    code, err, _ = load(tmp_path, archive(tmp_path, many),
                        config="[layers]\nmax_entries = 200\n")
    assert (code, err) == (1, "Error: layer has more than 200 entries (the limit is "
                              "max_entries in config.toml [layers])")
    code, err, _ = load(tmp_path, path, config="[layers]\nmax_ratio = -1\n")
    assert (code, err) == (1, "Error: config.toml [layers] max_ratio: -1 is not a number "
                              "of 0 or more")
    code, err, _ = load(tmp_path, path, config="[layers]\nmax_size = 100000000\n")
    assert code == 0, err  # 80 MiB, under every limit


def deep_layer(depth: int, *, each_level: bool, mode: int = 0o755) -> bytes:
    """One path ``depth`` directories deep ending in a file; with ``each_level``, every
    directory its own entry (of ``mode``), else only the file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if each_level:
            for k in range(1, depth + 1):
                info = tarfile.TarInfo("d/" * k)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 1704067200
                tar.addfile(info)
        info = tarfile.TarInfo("d/" * depth + "bottom")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"deep\n"))
    return buf.getvalue()


def descend(root: Path, depth: int) -> list[os.stat_result]:
    """The stat of each of ``depth`` nested ``d`` directories below ``root``, and checks the
    file at the bottom (through descriptors: the path is longer than PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    found = []
    try:
        for _ in range(depth):
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = sub
            found.append(os.fstat(fd))
        bottom = os.open("bottom", os.O_RDONLY, dir_fd=fd)
        assert os.read(bottom, 100) == b"deep\n"
        os.close(bottom)
    finally:
        os.close(fd)
    return found


def snapshot_of(tmp: Path, image: BuiltImage) -> Path:
    [diff_id] = image.diff_ids  # one layer: its chain ID
    return tmp / "store" / "snapshots" / "sha256" / diff_id.removeprefix("sha256:") / "fs"


def test_a_path_10000_directories_deep_loads_in_bounded_memory(tmp_path: Path) -> None:
    needs_jail()
    image = make_image([deep_layer(10_000, each_level=False)])
    code, err, rss = load(tmp_path, archive(tmp_path, image), files=1024)
    assert code == 0, err
    assert rss < 200 * 1024, f"peak RSS {rss} KiB"  # it was 518 MB, and ran out of files
    descend(snapshot_of(tmp_path, image), 10_000)


def test_a_layer_with_each_of_3000_levels_its_own_entry(tmp_path: Path) -> None:
    needs_jail()
    image = make_image([deep_layer(3_000, each_level=True, mode=0o555)])
    code, err, rss = load(tmp_path, archive(tmp_path, image), files=1024)
    assert code == 0, err
    assert rss < 200 * 1024, f"peak RSS {rss} KiB"
    levels = descend(snapshot_of(tmp_path, image), 3_000)
    # Every directory got its own mode and time, set after everything below it was made.
    assert {(lv.st_mode & 0o7777, int(lv.st_mtime)) for lv in levels} == {(0o555, 1704067200)}
