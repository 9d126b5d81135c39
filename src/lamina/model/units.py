"""Sizes, durations and times printed as docker prints them (go-units and Go's time).

- ``human_size(7_800_000) == "7.8MB"``: go-units HumanSizeWithPrecision(n, 3), decimal units;
- ``binary_size(1536) == "1.5KiB"``: go-units BytesSize;
- ``human_duration(90) == "About a minute"``, ``time_ago(epoch) == "3 days ago"``;
- ``parse_rfc3339``, ``format_rfc3339``, ``format_rfc3339nano``, ``format_created_at`` (Go's
  ``time.Time.String()``), all of them Go-exact;
- ``parse_bytes("512m") == 536870912``: go-units RAMInBytes, for ``--memory``.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from datetime import UTC, datetime, timedelta, tzinfo

from lamina.errors import InvalidArgument

_DECIMAL_ABBRS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_ABBRS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _size_and_unit(size: float, base: float, abbrs: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(abbrs) - 1:
        size /= base
        i += 1
    return size, abbrs[i]


def _go_g(value: float, precision: int) -> str:
    # Go's %.Ng agrees with C's for finite values; only the special values differ.
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{precision}g}"


def human_size_precision(size: float, precision: int) -> str:
    """go-units HumanSizeWithPrecision: decimal units, ``precision`` significant digits."""
    value, unit = _size_and_unit(float(size), 1000.0, _DECIMAL_ABBRS)
    return _go_g(value, precision) + unit


def human_size(size: float) -> str:
    """docker's SIZE column: ``"0B"``, ``"7.8MB"``, ``"123kB"``, ``"1.23GB"``."""
    return human_size_precision(size, 3)


def human_size4(size: float) -> str:
    """go-units HumanSize (4 significant digits), as ``docker system df`` shared sizes."""
    return human_size_precision(size, 4)


def binary_size(size: float) -> str:
    """go-units BytesSize: binary units, ``"1.5KiB"``."""
    value, unit = _size_and_unit(float(size), 1024.0, _BINARY_ABBRS)
    return _go_g(value, 4) + unit


def human_duration(seconds: float | timedelta) -> str:
    """go-units HumanDuration: ``"Less than a second"`` up to ``"2 years"``."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    secs = math.trunc(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = math.trunc(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = math.trunc(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{math.trunc(seconds / 3600) // 24 // 365} years"


def time_ago(when: float | str, now: float | None = None) -> str:
    """docker's CREATED column: ``"About a minute ago"``; ``when`` is epoch or RFC 3339."""
    then = parse_rfc3339(when) if isinstance(when, str) else float(when)
    current = time.time() if now is None else now
    return human_duration(current - then) + " ago"


# -- RFC 3339 ---------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))$")


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds and any offset accepted)."""
    match = _RFC3339.match(text.strip())
    if match is None:
        raise InvalidArgument(f"invalid RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 61):
        raise InvalidArgument(f"invalid RFC 3339 time: {text!r}")
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    offset = 0
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        if match.group(9) == "-":
            offset = -offset
    base = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return base - offset + fraction


def _split_epoch(epoch: float, nanos: int | None) -> tuple[int, int]:
    """Whole seconds and nanoseconds; a float epoch is exact to the microsecond only."""
    if nanos is not None:
        return int(epoch), nanos
    if isinstance(epoch, int):
        return epoch, 0
    micros = round(epoch * 1_000_000)
    secs, rest = divmod(micros, 1_000_000)
    return secs, rest * 1000


def _as_datetime(secs: int, tz: tzinfo | None) -> datetime:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=secs)
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


def _offset(moment: datetime, zulu: bool, colon: bool) -> str:
    delta = moment.utcoffset() or timedelta(0)
    total = int(delta.total_seconds())
    if total == 0 and zulu:
        return "Z"
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


def format_rfc3339(epoch: float, tz: tzinfo | None = None) -> str:
    """Go's ``time.Unix(epoch, 0).Format(time.RFC3339)``, in local time unless ``tz``."""
    moment = _as_datetime(int(epoch), tz)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + _offset(moment, True, True)


def format_rfc3339nano(epoch: float, tz: tzinfo | None = UTC, *,
                       nanos: int | None = None) -> str:
    """Go's ``Format(time.RFC3339Nano)``: fraction without trailing zeros, ``Z`` for UTC."""
    secs, ns = _split_epoch(epoch, nanos)
    moment = _as_datetime(secs, tz)
    fraction = f".{ns:09d}".rstrip("0") if ns else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + _offset(moment, True, True)


def format_created_at(epoch: float, tz: tzinfo | None = None) -> str:
    """Go's ``time.Unix(epoch, 0).String()``: ``2024-01-02 03:04:05 +0000 UTC``."""
    moment = _as_datetime(int(epoch), tz)
    name = moment.tzname() or _offset(moment, False, False)
    return f"{moment.strftime('%Y-%m-%d %H:%M:%S')} {_offset(moment, False, False)} {name}"


# -- sizes in flags ----------------------------------------------------------------------------

_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_MAP = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
_BINARY_MAP = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def _parse_size(text: str, units: dict[str, int]) -> int:
    sep = max(text.rfind(ch) for ch in "0123456789. ")
    if sep == -1:
        raise InvalidArgument(f"invalid size: '{text}'")
    if text[sep] != " ":
        num, sfx = text[: sep + 1], text[sep + 1:]
    else:
        num, sfx = text[:sep], text[sep + 1:]
    if not _FLOAT.match(num):
        raise InvalidArgument(f'strconv.ParseFloat: parsing "{num}": invalid syntax')
    size = float(num)
    if size < 0:
        raise InvalidArgument(f"invalid size: '{text}'")
    if not sfx:
        return int(size)
    lowered = sfx.lower()
    bad = InvalidArgument(f"invalid suffix: '{lowered if len(sfx) <= 3 else sfx}'")
    if len(sfx) > 3:
        raise bad
    if lowered[0] == "b":
        if len(lowered) > 1:
            raise bad
        return int(size)
    if lowered[0] not in units:
        raise bad
    if (len(lowered) == 2 and lowered[1] != "b") or (len(lowered) == 3 and lowered[1:] != "ib"):
        raise bad
    return int(size * units[lowered[0]])


def parse_bytes(text: str) -> int:
    """go-units RAMInBytes: ``"512m"`` -> 536870912 (binary multiples, any suffix case)."""
    return _parse_size(text, _BINARY_MAP)


def parse_human_size(text: str) -> int:
    """go-units FromHumanSize: ``"1.5GB"`` -> 1500000000 (decimal multiples)."""
    return _parse_size(text, _DECIMAL_MAP)
