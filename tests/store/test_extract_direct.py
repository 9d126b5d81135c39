"""Large files, which the extractor hands to a direct-I/O writer thread (``lamina.store.direct``):
the same content, metadata, errors and containment as the small files it writes itself."""

from __future__ import annotations

import io
import os
import random
import stat
import threading
from pathlib import Path

import pytest

from lamina.errors import IntegrityError, StorageError
from lamina.store.extract import DIRECT_MIN, extract_layer
from store.test_extract import IS_ROOT, MTIME, dir_, link, make_tar, needs_root, reg, sym

BIG = random.Random(5).randbytes(3 * DIRECT_MIN + 4321)  # blocks, and a tail that is not


def extract(tar: bytes, dest: Path) -> None:
    extract_layer(io.BytesIO(tar), dest)  # type: ignore[arg-type]
    assert not [t for t in threading.enumerate() if t.name == "layer-writer"]


def test_content_modes_times_and_xattrs(tmp_path: Path) -> None:
    info, data = reg("bin/tool", BIG, 0o4755 if IS_ROOT else 0o755)
    info.pax_headers = {"SCHILY.xattr.user.comment": "big", "mtime": "1600000000.5"}
    tar = make_tar([dir_("bin"), (info, data), reg("bin/exact", BIG[:DIRECT_MIN], 0o600),
                    reg("small", b"s")])
    extract(tar, tmp_path)
    tool = tmp_path / "bin/tool"
    assert tool.read_bytes() == BIG
    assert stat.S_IMODE(tool.stat().st_mode) == (0o4755 if IS_ROOT else 0o755)
    assert tool.stat().st_mtime_ns == 1600000000_500000000  # set after the last write
    assert os.getxattr(tool, "user.comment") == b"big"
    assert (tmp_path / "bin/exact").read_bytes() == BIG[:DIRECT_MIN]
    assert stat.S_IMODE((tmp_path / "bin/exact").stat().st_mode) == 0o600
    assert (tmp_path / "bin").stat().st_mtime == MTIME


@needs_root
@pytest.mark.root
def test_owner(tmp_path: Path) -> None:
    extract(make_tar([reg("f", BIG, 0o2750, uid=1000, gid=50)]), tmp_path)
    st = (tmp_path / "f").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 50, 0o2750)


def test_hardlinks_and_replacements_of_large_files(tmp_path: Path) -> None:
    tar = make_tar([reg("a", BIG), link("b", "a"), reg("a", BIG[::-1]), reg("c", BIG[:-1]),
                    reg("c", b"small now")])
    extract(tar, tmp_path)
    assert (tmp_path / "b").read_bytes() == BIG  # the first file, still linked
    assert (tmp_path / "a").read_bytes() == BIG[::-1]
    assert (tmp_path / "c").read_bytes() == b"small now"


def test_contained_through_a_symlinked_parent(tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    extract(make_tar([sym("escape", "../outside"), reg("escape/big", BIG)]), dest)
    assert list(outside.iterdir()) == []
    assert (dest / "outside/big").read_bytes() == BIG


def test_truncated_inside_a_large_file(tmp_path: Path) -> None:
    tar = make_tar([reg("f", BIG)])
    with pytest.raises(IntegrityError, match="truncated in entry 'f'"):
        extract(tar[: 512 + DIRECT_MIN + 10], tmp_path)


def test_a_failed_background_write_names_its_entry(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    tar = make_tar([reg("first", BIG), reg("second", b"x")])
    with pytest.raises(StorageError, match="cannot extract layer entry 'first': No space left"):
        extract(tar, tmp_path)


def test_a_failed_background_chown_is_refused_like_any_other(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(fd: int, uid: int, gid: int) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchown", denied)
    tar = make_tar([reg("f", BIG, uid=4242, gid=4242)])
    with pytest.raises(IntegrityError, match="cannot extract layer entry 'f': Operation not"):
        extract_layer(io.BytesIO(tar), tmp_path, same_owner=True)  # type: ignore[arg-type]

