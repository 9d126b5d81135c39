"""The extractor's own count of a layer's size equals a walk of what it made, or says it cannot."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from lamina.store.extract import extract_layer
from lamina.store.snapshots import disk_usage


def tar_of(*entries: tuple[str, str, bytes | str]) -> bytes:
    """Entries (kind, name, data or link target): kind is file, dir, sym, link or fifo."""
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
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "link": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind in ("sym", "link"):
                info.linkname = str(value)
            tar.addfile(info)
    return buf.getvalue()


def test_count_matches_the_tree(tmp_path: Path) -> None:
    tar = tar_of(("dir", "etc", b""), ("file", "etc/a", b"x" * 5000), ("file", "etc/empty", b""),
                 ("link", "etc/b", "etc/a"), ("sym", "etc/c", "a"),
                 ("sym", "etc/d", "/usr/lib/\u00e9t\u00e9"), ("fifo", "run/f", b""),
                 ("file", "usr/lib/deep/x", b"y" * 70000), ("file", ".wh.gone", b""),
                 ("dir", "opaque", b""), ("file", "opaque/.wh..wh..opq", b""))
    stats = extract_layer(io.BytesIO(tar), tmp_path)  # type: ignore[arg-type]
    assert stats.usage is not None
    assert stats.usage == disk_usage(tmp_path) == 5000 + 70000 + 1 + len("/usr/lib/été".encode())


def test_replaced_entries_leave_it_to_the_walk(tmp_path: Path) -> None:
    for i, entries in enumerate([
        [("file", "a", b"first"), ("file", "a", b"second!")],
        [("file", "a", b"data"), ("sym", "a", "elsewhere")],
        [("file", "d/x", b"inside"), ("file", ".wh.d", b"")],
    ]):
        dest = tmp_path / str(i)
        dest.mkdir()
        stats = extract_layer(io.BytesIO(tar_of(*entries)), dest)  # type: ignore[arg-type]
        assert stats.usage is None
