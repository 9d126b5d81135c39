"""Digests: parsing, computing, and verifying while streaming."""

from __future__ import annotations

import hashlib

import pytest

from lamina.errors import IntegrityError, InvalidArgument, InvalidDigest, Unsupported
from lamina.model.digest import Digest, Hasher, hasher_for

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_SHA512 = "sha512:" + hashlib.sha512(b"").hexdigest()


@pytest.mark.parametrize("text", [EMPTY_SHA256, EMPTY_SHA512, "sha256:" + "0" * 64])
def test_parse_valid(text: str) -> None:
    d = Digest.parse(text)
    assert d == text
    assert isinstance(d, str)
    assert Digest.parse(d) is d


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        ":" + "a" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "SHA256:" + "a" * 64,
        "sha256:" + "g" * 64,
        "sha256:" + "a" * 128,
        "sha512:" + "a" * 64,
        "sha256 :" + "a" * 64,
        "sha256:" + "a" * 64 + "\n",
        " sha256:" + "a" * 64,
        "sha256::" + "a" * 64,
        "sha256:" + "\u0661" * 64,  # Arabic-Indic digit one: a Unicode digit, not hex
    ],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


@pytest.mark.parametrize("text", ["md5:" + "a" * 32, "sha384:" + "a" * 96, "blake3:" + "a" * 64])
def test_unsupported_algorithm_is_invalid_digest(text: str) -> None:
    with pytest.raises(InvalidDigest, match="unsupported algorithm"):
        Digest.parse(text)


def test_parse_non_string() -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(b"sha256:" + b"a" * 64)  # type: ignore[arg-type]


def test_invalid_digest_is_an_invalid_argument() -> None:
    assert issubclass(InvalidDigest, InvalidArgument)


def test_of_and_parts() -> None:
    d = Digest.of(b"")
    assert d == EMPTY_SHA256
    assert d.algorithm == "sha256"
    assert d.hex == EMPTY_SHA256[7:]
    assert d.short == "e3b0c44298fc"
    assert Digest.of(b"", "sha512") == EMPTY_SHA512
    assert Digest.of(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert repr(d) == f"Digest('{EMPTY_SHA256}')"


def test_of_unsupported_algorithm() -> None:
    with pytest.raises(Unsupported):
        Digest.of(b"", "md5")


def test_from_hex() -> None:
    assert Digest.from_hex(EMPTY_SHA256[7:], "sha256") == EMPTY_SHA256
    with pytest.raises(InvalidDigest):
        Digest.from_hex("abc", "sha256")


def test_hasher_streaming_matches_one_shot() -> None:
    data = bytes(range(256)) * 1000
    h = Hasher()
    for i in range(0, len(data), 4097):
        h.update(data[i : i + 4097])
    assert h.size == len(data)
    assert h.digest() == Digest.of(data)
    h.verify(Digest.of(data), len(data))


def test_hasher_accepts_memoryview() -> None:
    h = Hasher("sha512")
    h.update(memoryview(b"abc"))
    assert h.digest() == Digest.of(b"abc", "sha512")


def test_hasher_verify_digest_mismatch() -> None:
    h = Hasher()
    h.update(b"abc")
    with pytest.raises(IntegrityError, match="layer: digest"):
        h.verify(Digest.of(b"abd"), what="layer")


def test_hasher_verify_size_mismatch() -> None:
    h = Hasher()
    h.update(b"abc")
    with pytest.raises(IntegrityError, match="size 3 does not match expected 4"):
        h.verify(Digest.of(b"abc"), 4)


def test_hasher_for_uses_expected_algorithm() -> None:
    expected = Digest.of(b"x", "sha512")
    h = hasher_for(expected)
    h.update(b"x")
    h.verify(expected)
    assert h.algorithm == "sha512"


def test_hasher_unsupported() -> None:
    with pytest.raises(Unsupported):
        Hasher("md5")


def test_digest_is_hashable_and_equal_to_its_string() -> None:
    d = Digest.of(b"x")
    assert {d: 1}[str(d)] == 1
    assert d == str(d)
