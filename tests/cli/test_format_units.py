"""Sizes, durations and times as go-units and Go's time package print them."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest

from lamina.cli.format.units import (
    binary_size,
    format_created_at,
    format_rfc3339,
    format_rfc3339nano,
    human_duration,
    human_size,
    human_size4,
    parse_bytes,
    parse_human_size,
    parse_rfc3339,
    time_ago,
)
from lamina.errors import InvalidArgument

KB, MB, GB, TB, PB = 1000, 1000**2, 1000**3, 1000**4, 1000**5
KIB, MIB, GIB, TIB, PIB = 1024, 1024**2, 1024**3, 1024**4, 1024**5
MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(("size", "expected"), [
    (0, "0B"),
    (1, "1B"),
    (5.5, "5.5B"),
    (999, "999B"),
    (1000, "1kB"),
    (1024, "1.02kB"),
    (123_456, "123kB"),
    (999_499, "999kB"),
    (999_999, "1e+03kB"),  # go-units rounds after choosing the unit, as docker shows
    (7_800_000, "7.8MB"),
    (7_812_345, "7.81MB"),
    (192_000_000, "192MB"),
    (1_234_567_890, "1.23GB"),
    (3.42 * GB, "3.42GB"),
    (2.22 * PB, "2.22PB"),
    (10**24, "1YB"),
    (10**28, "1e+04YB"),
])
def test_human_size(size: float, expected: str) -> None:
    assert human_size(size) == expected


@pytest.mark.parametrize(("size", "expected"), [
    (1000, "1kB"), (1024, "1.024kB"), (1_000_000, "1MB"), (1_048_576, "1.049MB"),
    (2 * MB, "2MB"), (3.42 * GB, "3.42GB"), (5.372 * TB, "5.372TB"), (2.22 * PB, "2.22PB"),
    (10_000_000_000_000 * PB, "1e+04YB"),
])
def test_human_size4(size: float, expected: str) -> None:
    assert human_size4(size) == expected


@pytest.mark.parametrize(("size", "expected"), [
    (0, "0B"), (1024, "1KiB"), (1536, "1.5KiB"), (1024 * 1024, "1MiB"), (2 * MIB, "2MiB"),
    (3.42 * GIB, "3.42GiB"), (5.372 * TIB, "5.372TiB"), (2.22 * PIB, "2.22PiB"),
    (KIB**5 * PIB, "1.049e+06YiB"),
])
def test_binary_size(size: float, expected: str) -> None:
    assert binary_size(size) == expected


@pytest.mark.parametrize(("seconds", "expected"), [
    (-5, "Less than a second"),
    (0.45, "Less than a second"),
    (1, "1 second"),
    (1.9, "1 second"),
    (45, "45 seconds"),
    (59, "59 seconds"),
    (60, "About a minute"),
    (119, "About a minute"),
    (3 * MINUTE, "3 minutes"),
    (35 * MINUTE + 40, "35 minutes"),
    (59 * MINUTE + 59, "59 minutes"),
    (HOUR, "About an hour"),
    (HOUR + 29 * MINUTE, "About an hour"),
    (HOUR + 31 * MINUTE, "2 hours"),
    (3 * HOUR + 29 * MINUTE, "3 hours"),
    (3 * HOUR + 31 * MINUTE, "4 hours"),
    (24 * HOUR, "24 hours"),
    (DAY + 12 * HOUR, "36 hours"),
    (2 * DAY, "2 days"),
    (7 * DAY, "7 days"),
    (13 * DAY + 5 * HOUR, "13 days"),
    (14 * DAY, "2 weeks"),
    (18 * DAY, "2 weeks"),
    (21 * DAY, "3 weeks"),
    (31 * DAY, "4 weeks"),
    (30 * DAY + 14 * DAY, "6 weeks"),
    (60 * DAY, "2 months"),
    (97 * DAY, "3 months"),
    (13 * 30 * DAY, "13 months"),
    (23 * 30 * DAY, "23 months"),
    (24 * 30 * DAY, "24 months"),
    (24 * 30 * DAY + 14 * DAY, "2 years"),
    (3 * 365 * DAY + 60 * DAY, "3 years"),
])
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected
    assert human_duration(timedelta(seconds=seconds)) == expected


def test_time_ago() -> None:
    created = 1_700_000_000
    assert time_ago(created, now=created + 90) == "About a minute ago"
    assert time_ago(created, now=created + 3 * DAY) == "3 days ago"
    assert time_ago("2023-11-14T22:13:20Z", now=created + 30) == "30 seconds ago"
    assert time_ago(created, now=created - 10) == "Less than a second ago"
    assert time_ago(0).endswith(" years ago")


@pytest.mark.parametrize(("text", "epoch"), [
    ("2023-11-14T22:13:20Z", 1_700_000_000.0),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
    ("2023-11-14T16:43:20-05:30", 1_700_000_000.0),
    ("2023-11-14t22:13:20z", 1_700_000_000.0),
    ("2023-11-14T22:13:20.5Z", 1_700_000_000.5),
    ("1970-01-01T00:00:00Z", 0.0),
    ("0001-01-01T00:00:00Z", -62_135_596_800.0),
])
def test_parse_rfc3339(text: str, epoch: float) -> None:
    assert parse_rfc3339(text) == epoch


def test_parse_rfc3339_nanoseconds() -> None:
    assert parse_rfc3339("2023-11-14T22:13:20.123456789Z") == pytest.approx(
        1_700_000_000.123456789, abs=1e-6)


@pytest.mark.parametrize("text", ["", "yesterday", "2023-11-14", "2023-13-01T00:00:00Z",
                                  "2023-02-30T00:00:00Z", "2023-11-14T22:13:20"])
def test_parse_rfc3339_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_rfc3339(text)


CET = timezone(timedelta(hours=1), "CET")
IST = timezone(timedelta(hours=5, minutes=30), "IST")


def test_format_rfc3339() -> None:
    assert format_rfc3339(1_700_000_000, UTC) == "2023-11-14T22:13:20Z"
    assert format_rfc3339(1_700_000_000, CET) == "2023-11-14T23:13:20+01:00"
    assert format_rfc3339(1_700_000_000, timezone(timedelta(hours=-5, minutes=-30))) == (
        "2023-11-14T16:43:20-05:30")
    assert format_rfc3339(1_700_000_000.9, UTC) == "2023-11-14T22:13:20Z"


def test_format_rfc3339nano() -> None:
    assert format_rfc3339nano(1_700_000_000) == "2023-11-14T22:13:20Z"
    assert format_rfc3339nano(1_700_000_000.5) == "2023-11-14T22:13:20.5Z"
    assert format_rfc3339nano(1_700_000_000, nanos=123_456_789) == (
        "2023-11-14T22:13:20.123456789Z")
    assert format_rfc3339nano(1_700_000_000, nanos=120_000_000) == "2023-11-14T22:13:20.12Z"
    assert format_rfc3339nano(1_700_000_000.25, CET) == "2023-11-14T23:13:20.25+01:00"
    assert format_rfc3339nano(0) == "1970-01-01T00:00:00Z"


def test_format_created_at_like_go_time_string() -> None:
    assert format_created_at(1_700_000_000, UTC) == "2023-11-14 22:13:20 +0000 UTC"
    assert format_created_at(1_700_000_000, CET) == "2023-11-14 23:13:20 +0100 CET"
    assert format_created_at(1_700_000_000, IST) == "2023-11-15 03:43:20 +0530 IST"
    assert format_created_at(1_700_000_000.7, UTC) == "2023-11-14 22:13:20 +0000 UTC"


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 * KIB), ("32K", 32 * KIB),
    ("32kb", 32 * KIB), ("32Kb", 32 * KIB), ("32Mb", 32 * MIB), ("32Gb", 32 * GIB),
    ("32Tb", 32 * TIB), ("32Pb", 32 * PIB), ("32KiB", 32 * KIB), ("32MIB", 32 * MIB),
    ("512m", 512 * MIB), ("1g", GIB), ("1.5g", 3 * GIB // 2), ("32.3", 32), ("0.3 K", 307),
    (".3kB", 307), ("32.5 B", 32), ("32.", 32), ("0 ", 0), ("-0", 0),
])
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("0b", 0), ("0 B", 0), ("32", 32), ("32k", 32 * KB), ("32Kb", 32 * KB),
    ("32Mb", 32 * MB), ("32Gb", 32 * GB), ("32Tb", 32 * TB), ("32Pb", 32 * PB),
    ("32.5kB", 32_500), ("32.5 kB", 32_500), ("0.3 K", 300), (".3kB", 300), ("32. b", 32),
])
def test_parse_human_size(text: str, expected: int) -> None:
    assert parse_human_size(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "invalid size: ''"),
    ("hello", "invalid size: 'hello'"),
    ("-32", "invalid size: '-32'"),
    ("-32b", "invalid size: '-32b'"),
    (" 0", 'strconv.ParseFloat: parsing " 0": invalid syntax'),
    ("0b ", 'strconv.ParseFloat: parsing "0b": invalid syntax'),
    (".", 'strconv.ParseFloat: parsing ".": invalid syntax'),
    ("32b.", 'strconv.ParseFloat: parsing "32b.": invalid syntax'),
    ("32 bb", "invalid suffix: 'bb'"),
    ("32x", "invalid suffix: 'x'"),
    ("32kbb", "invalid suffix: 'kbb'"),
    ("32KiBs", "invalid suffix: 'KiBs'"),
    ("32mi", "invalid suffix: 'mi'"),
])
def test_parse_bytes_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_bytes(text)
    assert str(info.value) == message
