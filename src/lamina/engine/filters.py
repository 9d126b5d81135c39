"""``--filter key=value`` arguments, parsed and checked as docker does."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache

from lamina.errors import InvalidArgument


def parse_filters(args: Iterable[str], allowed: Iterable[str]) -> dict[str, list[str]]:
    """Turn ``["dangling=true", "label=a"]`` into ``{"dangling": ["true"], "label": ["a"]}``."""
    allowed = set(allowed)
    result: dict[str, list[str]] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {arg}")
        key = key.strip().lower()
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
        result.setdefault(key, []).append(value)
    return result


def parse_bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid filter '{key}={value}'")


def match_labels(wanted: list[str], labels: Mapping[str, str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` holds for ``labels``."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def prune_until(values: list[str] | None) -> float | None:
    """The last ``until`` of a prune's filters as an epoch: a Go duration before now, a Unix
    time or an RFC 3339 date; None without one. What was created after it survives."""
    if not values:
        return None
    from lamina.model.units import parse_rfc3339

    value = values[-1]
    try:
        return time.time() - parse_duration(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidArgument(f"invalid filter 'until={value}'") from None


def match_prune_labels(wanted: Mapping[str, list[str]], labels: Mapping[str, str]) -> bool:
    """docker's prune label test: every ``label`` holds, and not every ``label!`` does."""
    if "label" in wanted and not match_labels(wanted["label"], labels):
        return False
    return not ("label!" in wanted and match_labels(wanted["label!"], labels))


def match_reference(pattern: str, familiar_name: str, tag: str | None) -> bool:
    """docker's reference filter: a glob on the familiar name, or on ``name:tag``."""
    regex = _path_match_regex(pattern)
    if regex.fullmatch(familiar_name):
        return True
    return tag is not None and regex.fullmatch(f"{familiar_name}:{tag}") is not None


@lru_cache(maxsize=64)
def _path_match_regex(pattern: str) -> re.Pattern[str]:
    """Go's path.Match as a regex: ``*`` and ``?`` never cross a ``/`` (fnmatch's do)."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise InvalidArgument(f"invalid filter 'reference={pattern}': syntax error in pattern")
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration ("10m", "1h30m", "1.5h"), in seconds; ValueError otherwise."""
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise ValueError("empty duration")
    return total


def parse_time(text: str, flag: str) -> float:
    """A point in time as docker's --since/--until take it: a duration before now (``10m``),
    Unix seconds (``1700000000.5``), an RFC 3339 time, or a date (``2024-01-02``, UTC)."""
    import time

    from lamina.model.units import parse_rfc3339

    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    candidates = [text]
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        candidates.append(text + "T00:00:00Z")
    elif re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?", text):
        candidates.append(text + (":00" if text.count(":") == 1 else "") + "Z")
    for candidate in candidates:
        try:
            return parse_rfc3339(candidate)
        except InvalidArgument:
            continue
    raise InvalidArgument(f'invalid value for "{flag}": failed to parse value as time or '
                          f'duration: "{text}"')
