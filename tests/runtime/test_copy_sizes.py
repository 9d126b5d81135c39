"""What ``docker cp`` reports: ``entry_bytes`` counts a long name's PAX record without
writing it, and must agree with the header tarfile writes, byte for byte in length."""

from __future__ import annotations

import stat

import pytest

from lamina.runtime.copy import BLOCK, Entry, _header_bytes, entry_bytes, tar_header

MODES = {"dir": stat.S_IFDIR | 0o755, "file": stat.S_IFREG | 0o644,
         "symlink": stat.S_IFLNK | 0o777, "hardlink": stat.S_IFREG | 0o644}
# Around the ustar limit (100), and where a PAX record's length gains a digit.
LENGTHS = [1, 98, 99, 100, 101, 102, 500, 985, 990, 993, 994, 995, 996, 997, 1000, 9990, 9993,
           9994, 9995, 20_000]


def _written(entry: Entry) -> int:
    info = tar_header(entry)
    assert info is not None
    return len(_header_bytes(info)) + -(-info.size // BLOCK) * BLOCK


@pytest.mark.parametrize("kind", sorted(MODES))
@pytest.mark.parametrize("last", ["a", "é", "\udcff"])
def test_entry_bytes_is_what_tarfile_writes(kind: str, last: str) -> None:
    checked = 0
    for length in LENGTHS:
        name = "x" * (length - 1) + last
        links = [""] if kind in ("dir", "file") else ["t", "y" * length, "é" * length]
        for link in links:
            for uid in (0, 1 << 22):  # past ustar's 7 octal digits: a PAX record of its own
                entry = Entry(name, MODES[kind], uid, 0, 1_700_000_000,
                              5 if kind == "file" else 0, link, kind == "hardlink")
                assert entry_bytes(entry) == _written(entry), (length, link[:3], uid)
                checked += 1
    assert checked >= len(LENGTHS) * 2


def test_a_fifo_weighs_nothing() -> None:
    assert entry_bytes(Entry("f", stat.S_IFIFO | 0o644)) == 0
