"""Streamed layer (de)compression: round trips, detection, the uncompressed bound, bad input."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
import time
import zlib

import pytest
import zstandard

from lamina.errors import IntegrityError, Unsupported
from lamina.image.compression import (
    CHUNK,
    HashingReader,
    LayerReader,
    compress_gzip,
    compress_zstd,
    compression_of,
    open_decompressed,
    open_hashed,
)

OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

DATA = os.urandom(200_000) + b"layer " * 500_000 + os.urandom(3)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_all(stream: io.RawIOBase | io.BufferedIOBase) -> bytes:
    parts = []
    while data := stream.read(CHUNK // 3):  # odd sizes, to cross block boundaries
        parts.append(data)
    return b"".join(parts)


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
def test_round_trip_and_digests(kind: str) -> None:
    out = io.BytesIO()
    if kind == "gzip":
        made = compress_gzip(io.BytesIO(DATA), out)
    elif kind == "zstd":
        made = compress_zstd(io.BytesIO(DATA), out)
    else:
        out.write(DATA)
    blob = out.getvalue()
    if kind != "none":
        assert made.diff_id == sha256(DATA) and made.diff_size == len(DATA)
        assert made.digest == sha256(blob) and made.size == len(blob)
    reader = open_decompressed(io.BytesIO(blob), None, len(DATA))
    assert reader.compression == kind
    assert read_all(reader) == DATA
    assert reader.size == len(DATA)


def test_peers_read_what_we_write() -> None:
    gz, zs = io.BytesIO(), io.BytesIO()
    compress_gzip(io.BytesIO(DATA), gz)
    compress_zstd(io.BytesIO(DATA), zs)
    assert gzip.decompress(gz.getvalue()) == DATA
    assert zstandard.ZstdDecompressor().decompressobj().decompress(zs.getvalue()) == DATA


def test_gzip_output_is_reproducible_whatever_the_threads() -> None:
    one, two, again = io.BytesIO(), io.BytesIO(), io.BytesIO()
    compress_gzip(io.BytesIO(DATA), one, threads=1)
    compress_gzip(io.BytesIO(DATA), two, threads=2)
    compress_gzip(io.BytesIO(DATA), again, threads=1)
    assert one.getvalue() == two.getvalue() == again.getvalue()


def test_reads_other_writers_and_multiple_members() -> None:
    assert read_all(open_decompressed(io.BytesIO(gzip.compress(DATA, mtime=0)), OCI_GZIP)) == DATA
    double = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 1000)
    assert read_all(open_decompressed(io.BytesIO(double), DOCKER_GZIP)) == b"a" * 1000 + b"b" * 1000
    frames = zstandard.ZstdCompressor().compress(b"x" * 10) + zstandard.ZstdCompressor().compress(
        b"y"
    )
    assert read_all(open_decompressed(io.BytesIO(frames), OCI_ZSTD)) == b"x" * 10 + b"y"


def test_magic_bytes_win_over_the_label() -> None:
    # Tools exist that label plain tars as gzip and the reverse; docker reads them by content.
    plain = open_decompressed(io.BytesIO(DATA), DOCKER_GZIP)
    assert plain.compression == "none" and read_all(plain) == DATA
    zipped = open_decompressed(io.BytesIO(gzip.compress(DATA)), OCI_TAR)
    assert zipped.compression == "gzip" and read_all(zipped) == DATA


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("gzip", "gzip"),
        ("zstd", "zstd"),
        ("none", "none"),
        (OCI_GZIP, "gzip"),
        (OCI_ZSTD, "zstd"),
        (DOCKER_GZIP, "gzip"),
        (OCI_TAR, None),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"),
    ],
)
def test_compression_of(value: str | None, expected: str | None) -> None:
    assert compression_of(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "application/vnd.oci.image.layer.v1.tar+encrypted",
        "application/vnd.oci.image.layer.v1.tar+bzip2",
    ],
)
def test_unsupported_media_types(value: str) -> None:
    with pytest.raises(Unsupported):
        open_decompressed(io.BytesIO(DATA), value)


@pytest.mark.parametrize("head", [b"BZh91AY&SY", b"\xfd7zXZ\x00\x00"])
def test_unsupported_compressions_by_magic(head: bytes) -> None:
    with pytest.raises(Unsupported, match=r"bzip2|xz"):
        open_decompressed(io.BytesIO(head + b"\0" * 100), None)


def _gzip_bomb(total: int) -> bytes:
    # Identical 64 MiB-of-zeros members, concatenated: a few bytes per MiB on the wire.
    member = gzip.compress(b"\0" * (64 << 20), compresslevel=9, mtime=0)
    return member * (total // (64 << 20))


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_bomb_stops_at_the_bound(kind: str) -> None:
    total = 16 << 30  # 16 GiB uncompressed
    if kind == "gzip":
        bomb = _gzip_bomb(total)
    else:
        frame = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 << 20))
        bomb = frame * (total // (64 << 20))
    assert len(bomb) < 30 << 20
    bound = 8 << 20
    reader = open_decompressed(io.BytesIO(bomb), None, bound)
    with pytest.raises(IntegrityError, match=f"layer exceeds {bound} bytes uncompressed"):
        read_all(reader)
    assert reader.size <= bound + CHUNK  # at most one block past the bound was produced
    reader.close()


def test_exact_bound_is_allowed() -> None:
    assert read_all(open_decompressed(io.BytesIO(gzip.compress(DATA)), None, len(DATA))) == DATA
    with pytest.raises(IntegrityError, match="exceeds"):
        read_all(open_decompressed(io.BytesIO(gzip.compress(DATA)), None, len(DATA) - 1))


def _corrupt_cases() -> list[tuple[str, bytes, str]]:
    gz = gzip.compress(DATA, mtime=0)
    zs = zstandard.ZstdCompressor(write_checksum=True).compress(DATA)
    flipped = bytearray(gz)
    flipped[len(gz) // 2] ^= 0xFF
    bad_crc = gz[:-8] + bytes(4) + gz[-4:]
    zflip = bytearray(zs)
    zflip[len(zs) // 2] ^= 0xFF
    return [
        ("gzip-truncated", gz[: len(gz) // 2], "truncated"),
        ("gzip-no-trailer", gz[:-4], "truncated|not valid"),
        ("gzip-flipped", bytes(flipped), "not valid gzip|truncated"),
        ("gzip-bad-crc", bad_crc, "not valid gzip"),
        ("gzip-header-only", gz[:10], "truncated"),
        ("zstd-truncated", zs[: len(zs) // 2], "truncated"),
        ("zstd-cut-checksum", zs[:-2], "truncated"),
        ("zstd-flipped", bytes(zflip), "not valid zstd|truncated"),
        ("zstd-trailing-garbage", zs + b"garbage!", "not valid zstd"),
    ]


@pytest.mark.parametrize(
    ("name", "blob", "message"),
    _corrupt_cases(),
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "",
)
def test_corrupt_streams_give_one_line(name: str, blob: bytes, message: str) -> None:
    with pytest.raises(IntegrityError, match=message) as info:
        read_all(open_decompressed(io.BytesIO(blob), None, 1 << 30))
    assert "\n" not in str(info.value)


def test_errors_of_the_source_pass_through() -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.data = io.BytesIO(gzip.compress(DATA))

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            if self.data.tell() > 1000:
                raise IntegrityError("blob sha256:abc: digest mismatch")
            return self.data.readinto(b)

    with pytest.raises(IntegrityError, match="digest mismatch"):
        read_all(open_decompressed(Failing(), None))  # type: ignore[arg-type]


def test_hashing_reader_sees_every_byte() -> None:
    reader = HashingReader(io.BytesIO(DATA))
    assert reader.read(10) == DATA[:10]
    buf = bytearray(1000)
    assert reader.readinto(buf) == 1000
    reader.drain()
    assert reader.hasher.size == len(DATA)
    assert reader.hasher.digest() == sha256(DATA)


def test_zlib_and_isal_agree() -> None:
    out = io.BytesIO()
    compress_gzip(io.BytesIO(DATA), out)
    assert zlib.decompress(out.getvalue(), wbits=31) == DATA


# --------------------------------------------------------------------------- open_hashed


def _hashed(stream: io.RawIOBase | io.BytesIO, bound: int | None = 1 << 30) -> LayerReader:
    return open_hashed(stream, None, bound, "sha256")  # type: ignore[arg-type]


def _layer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("layer-")]


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none", "gzip-members"])
def test_hashed_reader_reads_and_hashes_every_byte(kind: str) -> None:
    blob = {"gzip": gzip.compress(DATA), "zstd": zstandard.ZstdCompressor().compress(DATA),
            "none": DATA,
            "gzip-members": gzip.compress(DATA[:77777]) + gzip.compress(DATA[77777:])}[kind]
    reader = _hashed(io.BytesIO(blob))
    head = reader.read(12345)
    reader.drain()  # the rest, unread but hashed
    reader.close()
    assert head == DATA[:12345]
    assert (reader.hasher.size, reader.hasher.digest()) == (len(DATA), sha256(DATA))
    reader = _hashed(io.BytesIO(blob))
    assert read_all(reader) == DATA
    reader.close()
    assert _layer_threads() == []


@pytest.mark.parametrize(
    ("name", "blob", "message"),
    _corrupt_cases(),
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "",
)
def test_hashed_reader_corrupt_streams_give_one_line(name: str, blob: bytes,
                                                     message: str) -> None:
    reader = _hashed(io.BytesIO(blob))
    with pytest.raises(IntegrityError, match=message) as info:
        read_all(reader)
    reader.close()
    assert "\n" not in str(info.value)
    assert _layer_threads() == []


def test_hashed_reader_stops_at_the_bound_and_passes_source_errors_on() -> None:
    reader = _hashed(io.BytesIO(_gzip_bomb(1 << 30)), 8 << 20)
    with pytest.raises(IntegrityError, match="exceeds"):
        reader.drain()
    reader.close()

    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.data = io.BytesIO(gzip.compress(DATA))

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            if self.data.tell() > 1000:
                raise IntegrityError("blob sha256:abc: digest mismatch")
            return self.data.readinto(b)

    reader = _hashed(Failing())
    with pytest.raises(IntegrityError, match="digest mismatch"):
        read_all(reader)
    reader.close()
    assert _layer_threads() == []


def test_hashed_reader_closed_early_stops_its_threads() -> None:
    big = os.urandom(1 << 20) * 24  # more blocks than the threads may hold
    reader = _hashed(io.BytesIO(gzip.compress(big, compresslevel=1)))
    assert reader.read(100) == big[:100]
    time.sleep(0.2)  # both threads blocked on full queues
    reader.close()
    assert _layer_threads() == []
