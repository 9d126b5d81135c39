"""The extractor keeps tar order wherever it matters: a name written twice, a
hardlink to a file still being written, a whiteout or a symlink replacing one, many files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from helpers.images import Dir, Hardlink, Symlink, make_layer
from lamina.errors import IntegrityError
from lamina.store.extract import extract_layer


def extract(tar: bytes, dest: Path, whiteouts: str = "apply") -> None:
    dest.mkdir(exist_ok=True)
    extract_layer(io.BytesIO(tar), dest, whiteouts=whiteouts)  # type: ignore[arg-type]


def test_many_small_files(tmp_path: Path) -> None:
    files = [(f"d{i % 7}/f{i}", f"content {i}".encode() * (i % 50)) for i in range(500)]
    extract(make_layer(files), tmp_path / "out")
    for name, data in files:
        assert (tmp_path / "out" / name).read_bytes() == data
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o644


def test_a_name_written_twice_keeps_the_last(tmp_path: Path) -> None:
    extract(make_layer([("a", b"first"), ("b", b"b"), ("a", b"second")]),
            tmp_path / "out")
    assert (tmp_path / "out" / "a").read_bytes() == b"second"


def test_a_name_written_twice_through_a_symlinked_directory(tmp_path: Path) -> None:
    extract(make_layer([("real", Dir()), ("alias", Symlink("real")),
                        ("real/x", b"first"), ("alias/x", b"second")]),
            tmp_path / "out")
    assert (tmp_path / "out" / "real" / "x").read_bytes() == b"second"


def test_hardlink_to_a_file_just_written(tmp_path: Path) -> None:
    extract(make_layer([("a", b"data"), ("b", Hardlink("a"))]), tmp_path / "out")
    a, b = tmp_path / "out" / "a", tmp_path / "out" / "b"
    assert b.read_bytes() == b"data"
    assert a.stat().st_ino == b.stat().st_ino


def test_symlink_and_directory_replace_a_file(tmp_path: Path) -> None:
    extract(make_layer([("s", b"file"), ("s", Symlink("elsewhere")),
                        ("d", b"file"), ("d", Dir()), ("d/in", b"in")]),
            tmp_path / "out")
    assert (tmp_path / "out" / "s").readlink() == Path("elsewhere")
    assert (tmp_path / "out" / "d" / "in").read_bytes() == b"in"


def test_whiteout_of_a_file_of_the_same_layer(tmp_path: Path) -> None:
    extract(make_layer([("gone", b"x"), (".wh.gone", b"")]), tmp_path / "out")
    assert not (tmp_path / "out" / "gone").exists()


def test_truncated_file_data_is_refused(tmp_path: Path) -> None:
    tar = make_layer([("a", b"a" * 5000), ("b", b"b" * 5000)])
    with pytest.raises(IntegrityError):
        extract(tar[:3000], tmp_path / "out")


def test_a_failed_extraction_leaks_no_descriptor(tmp_path: Path) -> None:
    import os

    files = [(f"d/f{i}", b"x" * 1000) for i in range(300)]
    tar = make_layer([*files, ("bad", Hardlink("../../outside"))])
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(IntegrityError):
        extract(tar, tmp_path / "out")
    assert len(os.listdir("/proc/self/fd")) == before
