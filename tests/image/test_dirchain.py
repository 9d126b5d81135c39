"""DirChain and the walks built on it: any depth, a few descriptors, a moved directory noticed."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.image.dirchain import DirChain
from lamina.image.layer import write_layer
from lamina.runtime.copy import walk
from lamina.store.scratch import remove_tree

DEPTH = 5_000


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def make_chain(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(depth):
        os.mkdir("d", dir_fd=fd)
        out = os.open(f"f{i}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, str(i).encode())
        os.close(out)
        sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    os.close(fd)


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("dirchain") / "deep"
    root.mkdir()
    make_chain(root, DEPTH)
    yield root
    remove_tree(root)  # pytest's clean-up recurses


def test_down_and_up_with_a_window_of_descriptors(deep: Path) -> None:
    before = open_fds()
    chain = DirChain(os.open(deep, os.O_RDONLY | os.O_DIRECTORY), window=8)
    idents = [os.fstat(chain.top()).st_ino]
    for _ in range(DEPTH):
        idents.append(os.fstat(chain.push("d")).st_ino)
        assert open_fds() - before <= 8 + 1  # the window and the start
    assert len(chain) == DEPTH + 1
    for level in range(DEPTH, 0, -1):
        assert os.fstat(chain.top()).st_ino == idents[level]
        chain.pop()
    assert os.fstat(chain.top()).st_ino == idents[0]
    chain.close()
    assert open_fds() == before


def test_a_directory_moved_during_the_walk_is_noticed(tmp_path: Path) -> None:
    make_chain(tmp_path, 20)
    chain = DirChain(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY), window=2)
    for _ in range(10):
        chain.push("d")
    # Level 9 moves to the top: its ".." is no longer level 8, which is closed by now.
    os.rename(tmp_path / ("d/" * 9).rstrip("/"), tmp_path / "moved")
    chain.pop()  # back to level 9, still open
    with pytest.raises(OSError, match="moved"):
        chain.pop()
    chain.close()


def test_write_layer_of_a_tree_5000_deep(deep: Path) -> None:
    out = io.BytesIO()
    before = open_fds()
    count = write_layer(deep, out)
    assert open_fds() == before
    assert count == 2 * DEPTH  # a directory and a file at each level
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        names = [m.name for m in tar]
    assert names[:3] == ["d", "d/d", "d/d/d"]  # each directory before what it holds
    assert names[-1] == "f0"  # after everything below d, sorted before it
    assert "d/" * (DEPTH - 1) + f"f{DEPTH - 1}" in names


def test_the_copy_walk_of_a_tree_5000_deep(deep: Path) -> None:
    parent = os.open(deep.parent, os.O_RDONLY | os.O_DIRECTORY)
    before = open_fds()
    try:
        names = [entry.name for entry in walk(parent, "deep", "deep")]
        assert open_fds() == before
    finally:
        os.close(parent)
    assert len(names) == 1 + 2 * DEPTH
    assert names[1:3] == ["deep/d", "deep/d/d"]
    assert "deep/" + "d/" * (DEPTH - 1) + f"f{DEPTH - 1}" in names
