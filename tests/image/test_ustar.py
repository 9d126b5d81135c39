"""``lamina.image.ustar.next_member`` gives exactly the members (and errors) tarfile gives."""

from __future__ import annotations

import io
import random
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.image.layer import TarSource
from lamina.image.ustar import next_member

FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname",
          "gname", "devmajor", "devminor", "offset", "offset_data", "pax_headers", "sparse")


def members_by_tarfile(data: bytes) -> list[object]:
    """Every member's fields as tarfile reads them, then how it ended."""
    out: list[object] = []
    try:
        tar = tarfile.TarFile(fileobj=io.BytesIO(data), mode="r")
        while (m := tar.next()) is not None:
            out.append(tuple(getattr(m, f) for f in FIELDS))
    except tarfile.TarError as exc:
        out.append(type(exc).__name__)
    return out


def members_by_fast_path(data: bytes) -> list[object]:
    """The same through ``next_member`` over a TarSource, as the extractor reads a layer."""
    out: list[object] = []
    source = TarSource(io.BytesIO(data))
    try:
        tar = tarfile.TarFile(fileobj=source, mode="r")  # type: ignore[arg-type]
        while (m := next_member(tar, source)) is not None:
            out.append(tuple(getattr(m, f) for f in FIELDS))
    except tarfile.TarError as exc:
        out.append(type(exc).__name__)
    return out


def info(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    m.mtime = 1704067200
    for key, value in fields.items():
        setattr(m, key, value)
    return m


def build(fmt: int, entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for m, data in entries:
            if m.isreg():
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if m.isreg() else None)
    return buf.getvalue()


def sample(long: bool = False) -> list[tuple[tarfile.TarInfo, bytes]]:
    deep = "/".join(f"component{i}" for i in range(12))  # > 100 bytes: a ustar prefix or more
    entries = [
        (info("etc", tarfile.DIRTYPE, mode=0o755), b""),
        (info("etc/passwd", mode=0o644, uid=0, gid=0, uname="root", gname="root"), b"root:x\n"),
        (info("etc/empty", mode=0o600), b""),
        (info("bin/sh", tarfile.SYMTYPE, linkname="dash"), b""),
        (info("bin/link", tarfile.LNKTYPE, linkname="etc/passwd"), b""),
        (info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3), b""),
        (info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0), b""),
        (info("run/fifo", tarfile.FIFOTYPE, mode=0o600), b""),
        (info("usr/bin/sudo", mode=0o4755, uid=1000, gid=1000), b"x" * 513),
        (info(f"{deep}/file", mode=0o644), b"deep"),
        (info(f"{deep}/dir/", tarfile.DIRTYPE), b""),
        (info("caf\u00e9/\u00fcnicode", mode=0o644), b"utf-8 names"),
    ]
    if long:
        entries += [
            (info("x" * 150, mode=0o644), b"a long name"),
            (info("big-uid", uid=1 << 22, gid=3), b"a uid beyond 7 octal digits"),
            (info("l", tarfile.SYMTYPE, linkname="t" * 120), b""),
        ]
    return entries


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_same_members_as_tarfile(fmt: int) -> None:
    data = build(fmt, sample(long=fmt != tarfile.USTAR_FORMAT))
    expected = members_by_tarfile(data)
    assert len(expected) > 10 and not isinstance(expected[-1], str)
    assert members_by_fast_path(data) == expected


def test_pax_global_header_applies_to_later_members() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "global", "uname": "someone"}) as tar:
        for m, data in sample():
            if m.isreg():
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if m.isreg() else None)
    data = buf.getvalue()
    assert members_by_fast_path(data) == members_by_tarfile(data)


def test_v7_directory_and_signed_checksum() -> None:
    data = bytearray(build(tarfile.USTAR_FORMAT, [(info("old/", tarfile.AREGTYPE), b""),
                                                  (info("\u00ff" * 40, mode=0o644), b"x")]))
    assert members_by_fast_path(bytes(data)) == members_by_tarfile(bytes(data))
    # Rewrite the second header's checksum as old tars computed it (bytes as signed).
    header = data[512:1024]
    header[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in header)
    header[148:156] = b"%06o\0 " % signed
    data[512:1024] = header
    assert members_by_fast_path(bytes(data)) == members_by_tarfile(bytes(data))


@pytest.mark.parametrize("cut", [0, 100, 512, 700, 1024, 1536, 2000])
def test_truncated_archives(cut: int) -> None:
    data = build(tarfile.USTAR_FORMAT, sample())[:-cut or None]
    assert members_by_fast_path(data) == members_by_tarfile(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 12))
def test_corrupted_headers_read_alike(seed: int, flips: int) -> None:
    """Random bytes changed anywhere in the headers: the same members, or the same error."""
    rng = random.Random(seed)
    fmt = rng.choice([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
    data = bytearray(build(fmt, sample(long=fmt != tarfile.USTAR_FORMAT)))
    headers = [i for i in range(0, len(data), 512) if data[i + 257:i + 262] == b"ustar"]
    for _ in range(flips):
        start = rng.choice(headers)
        data[start + rng.randrange(512)] = rng.choice(
            [0, 0x20, 0x30, 0x37, 0x38, 0x80, 0xFF, rng.randrange(256)])
    assert members_by_fast_path(bytes(data)) == members_by_tarfile(bytes(data))


@pytest.mark.parametrize("size", [b"-0000000001", b"+0000000001", b"00000_00001", b"0000000009"])
def test_numbers_int_would_take_are_left_to_tarfile(size: bytes) -> None:
    header = bytearray(tarfile.TarInfo("f").tobuf(tarfile.USTAR_FORMAT))
    header[124:136] = size + b"\0"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    data = bytes(header) + b"x" * 512 + b"\0" * 1024
    assert members_by_fast_path(data) == members_by_tarfile(data)
