"""A container whose changes nest 10,000 directories deep: commit, export, diff and cp work.

Each used to fail (commit and export with RecursionError at ~1,000 levels, diff with "File
name too long", cp by running for 20 minutes); all walks are iterative now, through a few
descriptors whatever the depth (``lamina.image.dirchain``). A build whose RUN makes a tree
5,000 deep commits it as a layer.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.store import Store

from .conftest import Image, Run, mounts_under

pytestmark = [pytest.mark.slow, pytest.mark.root]

DEPTH = 10_000


def make_tree(root: Path, depth: int) -> None:
    """``d/d/.../d/bottom``, ``depth`` directories, made through descriptors."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        out = os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"deep\n")
        os.close(out)
    finally:
        os.close(fd)


def depth_of(root: Path) -> int:
    """How many nested ``d`` lead to ``bottom`` below ``root`` (which must be there)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    depth = 0
    try:
        while "d" in os.listdir(fd):
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd, depth = sub, depth + 1
        bottom = os.open("bottom", os.O_RDONLY, dir_fd=fd)
        assert os.read(bottom, 10) == b"deep\n"
        os.close(bottom)
    finally:
        os.close(fd)
    return depth


@pytest.fixture
def deep(lamina: Run, image: Image, store_root: Path) -> str:
    """A created container whose writable layer holds the tree below /d."""
    image()
    assert lamina("create", "--name", "deep", "busybox", "true").code == 0
    cid = lamina("inspect", "--format", "{{.Id}}", "deep").out.strip()
    make_tree(store_root / "containers" / cid / "upper", DEPTH)
    return "deep"


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    """Set up first, so torn down last (after the containers' removal): pytest's own
    clean-up recurses, and would leave trees this deep behind."""
    yield
    from lamina.store.scratch import remove_tree

    remove_tree(tmp_path)


def test_commit(lamina: Run, deep: str, store_root: Path) -> None:
    done = lamina("commit", deep, "deep:1")
    assert done.code == 0, done.err
    with Store(store_root) as store:
        top = store.resolve("deep:1").layers[-1]
        assert depth_of(store.snapshots.path(top.chain_id) / "d") == DEPTH - 1
    assert mounts_under(store_root) == []


def test_export(lamina: Run, deep: str, tmp_path: Path, store_root: Path) -> None:
    out = tmp_path / "export.tar"
    done = lamina("export", "-o", str(out), deep)
    assert done.code == 0, done.err
    deepest = "d/" * DEPTH + "bottom"
    count = 0
    with tarfile.open(out) as tar:
        for member in tar:
            if member.name == "d" or member.name.startswith("d/"):
                count += 1
            if member.name == deepest:
                assert tar.extractfile(member).read() == b"deep\n"  # type: ignore[union-attr]
    assert count == DEPTH + 1
    assert mounts_under(store_root) == []


def test_diff(lamina: Run, deep: str) -> None:
    done = lamina("diff", deep)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert len(lines) == DEPTH + 1 and lines[0] == "A /d"
    assert lines[-1] == "A " + "/d" * DEPTH + "/bottom"


def test_cp_out_of_the_container(lamina: Run, deep: str, tmp_path: Path,
                                 store_root: Path) -> None:
    done = lamina("cp", f"{deep}:/d", str(tmp_path / "out"))
    assert done.code == 0, done.err
    assert depth_of(tmp_path / "out") == DEPTH - 1
    assert mounts_under(store_root) == []


def test_cp_sets_every_level_s_mode_and_mtime(lamina: Run, image: Image, tmp_path: Path,
                                             store_root: Path) -> None:
    """Each directory's mode and mtime are set after what is below it, at every level of a
    tree deeper than the writer keeps descriptors for (and than a DirChain keeps open)."""
    image()
    assert lamina("create", "--name", "modes", "busybox", "true").code == 0
    cid = lamina("inspect", "--format", "{{.Id}}", "modes").out.strip()
    depth, stamp = 1_000, 1_000_000_000
    fd = os.open(store_root / "containers" / cid / "upper", os.O_RDONLY | os.O_DIRECTORY)
    for level in range(depth):
        os.mkdir("d", 0o750 if level % 2 else 0o550, dir_fd=fd)
        sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        if level:
            os.utime(fd, (stamp + level, stamp + level))
        os.close(fd)
        fd = sub
    os.utime(fd, (stamp + depth, stamp + depth))
    os.close(fd)
    done = lamina("cp", "modes:/d", str(tmp_path / "out"))
    assert done.code == 0, done.err
    fd = os.open(tmp_path / "out", os.O_RDONLY | os.O_DIRECTORY)
    seen = []
    try:
        for _ in range(1, depth):
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = sub
            st = os.fstat(fd)
            seen.append((st.st_mode & 0o7777, int(st.st_mtime)))
    finally:
        os.close(fd)
    assert seen == [(0o750 if level % 2 else 0o550, stamp + level + 1)
                    for level in range(1, depth)]


def test_a_build_whose_run_makes_a_tree_5000_deep(lamina: Run, image: Image, tmp_path: Path,
                                                   store_root: Path) -> None:
    image()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        # Wrapped one level at a time from the bottom up (a shell cannot cd below PATH_MAX).
        "RUN mkdir d && echo deep > d/bottom && i=1 && while [ $i -lt 5000 ]; do"
        " mkdir t && mv d t/d && mv t d || exit 1; i=$((i+1)); done\n")
    done = lamina("build", "-q", "-t", "deep:built", str(ctx))
    assert done.code == 0, done.err
    with Store(store_root) as store:
        top = store.resolve("deep:built").layers[-1]
        assert depth_of(store.snapshots.path(top.chain_id) / "d") == 4999
