"""The extractor's own count of a layer's size equals a walk of what it made, or says it cannot."""

from __future__ import annotations

import io
from pathlib import Path

from helpers.images import Dir, Fifo, Hardlink, Symlink, make_layer
from lamina.store.extract import extract_layer
from lamina.store.snapshots import disk_usage


def test_count_matches_the_tree(tmp_path: Path) -> None:
    tar = make_layer([("etc", Dir()), ("etc/a", b"x" * 5000), ("etc/empty", b""),
                      ("etc/b", Hardlink("etc/a")), ("etc/c", Symlink("a")),
                      ("etc/d", Symlink("/usr/lib/\u00e9t\u00e9")), ("run/f", Fifo()),
                      ("usr/lib/deep/x", b"y" * 70000), (".wh.gone", b""),
                      ("opaque", Dir()), ("opaque/.wh..wh..opq", b"")])
    stats = extract_layer(io.BytesIO(tar), tmp_path)  # type: ignore[arg-type]
    assert stats.usage is not None
    assert stats.usage == disk_usage(tmp_path) == 5000 + 70000 + 1 + len("/usr/lib/été".encode())


def test_replaced_entries_leave_it_to_the_walk(tmp_path: Path) -> None:
    for i, entries in enumerate([
        [("a", b"first"), ("a", b"second!")],
        [("a", b"data"), ("a", Symlink("elsewhere"))],
        [("d/x", b"inside"), (".wh.d", b"")],
    ]):
        dest = tmp_path / str(i)
        dest.mkdir()
        stats = extract_layer(io.BytesIO(make_layer(entries)), dest)  # type: ignore[arg-type]
        assert stats.usage is None
