"""The extractor keeps tar order wherever it matters: a name written twice, a
hardlink to a file still being written, a whiteout or a symlink replacing one, many files."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lamina.errors import IntegrityError
from lamina.store.extract import extract_layer


def tar_of(*entries: tuple[str, str, bytes | str]) -> bytes:
    """Entries (kind, name, data or link target): kind is file, dir, sym or link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, value in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1704067200
            if kind == "file":
                assert isinstance(value, bytes)
                info.size, info.mode = len(value), 0o644
                tar.addfile(info, io.BytesIO(value))
                continue
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, str(value)
            else:
                info.type, info.linkname = tarfile.LNKTYPE, str(value)
            tar.addfile(info)
    return buf.getvalue()


def extract(tar: bytes, dest: Path, whiteouts: str = "apply") -> None:
    dest.mkdir(exist_ok=True)
    extract_layer(io.BytesIO(tar), dest, whiteouts=whiteouts)  # type: ignore[arg-type]


def test_many_small_files(tmp_path: Path) -> None:
    files = [("file", f"d{i % 7}/f{i}", f"content {i}".encode() * (i % 50)) for i in range(500)]
    extract(tar_of(*files), tmp_path / "out")
    for _, name, data in files:
        assert (tmp_path / "out" / name).read_bytes() == data
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o644


def test_a_name_written_twice_keeps_the_last(tmp_path: Path) -> None:
    extract(tar_of(("file", "a", b"first"), ("file", "b", b"b"), ("file", "a", b"second")),
            tmp_path / "out")
    assert (tmp_path / "out" / "a").read_bytes() == b"second"


def test_a_name_written_twice_through_a_symlinked_directory(tmp_path: Path) -> None:
    extract(tar_of(("dir", "real", b""), ("sym", "alias", "real"),
                   ("file", "real/x", b"first"), ("file", "alias/x", b"second")),
            tmp_path / "out")
    assert (tmp_path / "out" / "real" / "x").read_bytes() == b"second"


def test_hardlink_to_a_file_just_written(tmp_path: Path) -> None:
    extract(tar_of(("file", "a", b"data"), ("link", "b", "a")), tmp_path / "out")
    a, b = tmp_path / "out" / "a", tmp_path / "out" / "b"
    assert b.read_bytes() == b"data"
    assert a.stat().st_ino == b.stat().st_ino


def test_symlink_and_directory_replace_a_file(tmp_path: Path) -> None:
    extract(tar_of(("file", "s", b"file"), ("sym", "s", "elsewhere"),
                   ("file", "d", b"file"), ("dir", "d", b""), ("file", "d/in", b"in")),
            tmp_path / "out")
    assert (tmp_path / "out" / "s").readlink() == Path("elsewhere")
    assert (tmp_path / "out" / "d" / "in").read_bytes() == b"in"


def test_whiteout_of_a_file_of_the_same_layer(tmp_path: Path) -> None:
    extract(tar_of(("file", "gone", b"x"), ("file", ".wh.gone", b"")), tmp_path / "out")
    assert not (tmp_path / "out" / "gone").exists()


def test_truncated_file_data_is_refused(tmp_path: Path) -> None:
    tar = tar_of(("file", "a", b"a" * 5000), ("file", "b", b"b" * 5000))
    with pytest.raises(IntegrityError):
        extract(tar[:3000], tmp_path / "out")


def test_a_failed_extraction_leaks_no_descriptor(tmp_path: Path) -> None:
    import os

    files = [("file", f"d/f{i}", b"x" * 1000) for i in range(300)]
    tar = tar_of(*files, ("link", "bad", "../../outside"))
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(IntegrityError):
        extract(tar, tmp_path / "out")
    assert len(os.listdir("/proc/self/fd")) == before
