"""Platforms: parsing, normalisation, matching, JSON."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidArgument, InvalidManifest
from lamina.model.platform import Platform


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", ("linux", "amd64", None)),
        ("linux/x86_64", ("linux", "amd64", None)),
        ("Linux/X86_64", ("linux", "amd64", None)),
        ("linux/aarch64", ("linux", "arm64", None)),
        ("linux/arm64/v8", ("linux", "arm64", "v8")),
        ("linux/arm64/8", ("linux", "arm64", "v8")),
        ("linux/arm/v7", ("linux", "arm", "v7")),
        ("linux/arm/7", ("linux", "arm", "v7")),
        ("linux/armhf", ("linux", "arm", "v7")),
        ("linux/armel", ("linux", "arm", "v6")),
        ("linux/i386", ("linux", "386", None)),
        ("windows/amd64", ("windows", "amd64", None)),
        ("macos/arm64", ("darwin", "arm64", None)),
        ("linux/s390x", ("linux", "s390x", None)),
        ("linux/riscv64", ("linux", "riscv64", None)),
    ],
)
def test_parse(text: str, expected: tuple[str, str, str | None]) -> None:
    p = Platform.parse(text)
    assert (p.os, p.architecture, p.variant) == expected


def test_str() -> None:
    assert str(Platform.parse("linux/amd64")) == "linux/amd64"
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8"
    assert str(Platform("linux", "x86_64")) == "linux/amd64"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "/",
        "linux/",
        "/amd64",
        "linux/amd64/v8/x",
        "linux amd64",
        "linux/amd64\n",
        "nosuchthing",
    ],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        Platform.parse(text)


def test_parse_single_word_uses_host() -> None:
    host = Platform.host()
    assert Platform.parse("linux") == Platform("linux", host.architecture, host.variant)
    assert Platform.parse("arm64") == Platform("linux", "arm64")


def test_host_is_normalised() -> None:
    host = Platform.host()
    assert host.os == "linux"
    assert host.architecture not in {"x86_64", "aarch64"}


@pytest.mark.parametrize(
    ("want", "have", "ok"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/amd64", "linux/x86_64", True),
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm", "linux/arm/v7", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/arm64", "linux/amd64", False),
        ("linux/amd64", "windows/amd64", False),
        ("linux/amd64", "linux/amd64/v1", True),
        ("linux/amd64", "linux/amd64/v3", False),
    ],
)
def test_matches(want: str, have: str, ok: bool) -> None:
    assert Platform.parse(want).matches(Platform.parse(have)) is ok


def test_matches_os_version_only_when_both_given() -> None:
    a = Platform("windows", "amd64", os_version="10.0.17763.1")
    b = Platform("windows", "amd64", os_version="10.0.20348.1")
    assert not a.matches(b)
    assert a.matches(Platform("windows", "amd64"))


def test_json_round_trip() -> None:
    obj = {
        "architecture": "arm64",
        "os": "linux",
        "os.version": "1",
        "os.features": ["f"],
        "variant": "v8",
        "features": ["sse4"],
    }
    p = Platform.from_json(obj)
    assert p.to_json() == obj
    assert list(p.to_json()) == list(obj)
    assert Platform.from_json({"os": "linux", "architecture": "amd64"}).to_json() == {
        "architecture": "amd64",
        "os": "linux",
    }


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        "linux/amd64",
        {"os": "linux"},
        {"architecture": "amd64"},
        {"os": 1, "architecture": "amd64"},
        {"os": "linux", "architecture": ""},
        {"os": "linux", "architecture": "amd64", "variant": 8},
        {"os": "linux", "architecture": "amd64", "os.version": []},
        {"os": "linux", "architecture": "amd64", "features": "x"},
        {"os": "linux", "architecture": "amd64", "os.features": [1]},
    ],
)
def test_from_json_hostile(obj: object) -> None:
    with pytest.raises(InvalidManifest):
        Platform.from_json(obj)


def test_platforms_are_values() -> None:
    assert Platform.parse("linux/x86_64") == Platform("linux", "amd64")
    assert len({Platform.parse("linux/amd64"), Platform("Linux", "AMD64")}) == 1
