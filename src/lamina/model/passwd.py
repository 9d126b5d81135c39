"""``/etc/passwd`` and ``/etc/group`` of an image, parsed: one pure parser for build's
``--chown`` and the runtime's ``--user``, with one range of valid user and group IDs.

Lines that are empty, comments, or too short to name an ID are skipped, as libc and docker
skip them; a field that should be a number and is not makes the line unusable for that field
only (its ID is None). The bytes come from an image: nothing here trusts them to be UTF-8.
"""

from __future__ import annotations

from typing import NamedTuple

from lamina.errors import InvalidArgument, LaminaError

# docker's range (moby's user package): 0 to 2**31 - 1; above is refused, never wrapped.
MAX_ID = 2**31 - 1


class PasswdEntry(NamedTuple):
    name: str
    uid: int | None
    gid: int | None
    home: str


class GroupEntry(NamedTuple):
    name: str
    gid: int | None
    members: tuple[str, ...]


def parse_id(text: str, error: type[LaminaError] = InvalidArgument) -> int | None:
    """``text`` as a user or group ID; None if it is not a number (a name); ``error`` if it
    is a number out of range."""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    if value > MAX_ID:
        raise error(f"user or group ID {text} is out of range")
    return value


def _id(text: str) -> int | None:
    try:
        return parse_id(text)
    except InvalidArgument:
        return None  # an entry with an ID out of range names nobody


def _rows(data: bytes | None, fields: int) -> list[list[str]]:
    if not data:
        return []
    rows = []
    for line in data.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= fields:
            rows.append(parts)
    return rows


def parse_passwd(data: bytes | None) -> list[PasswdEntry]:
    """``name:password:uid:gid:gecos:home:shell`` lines (at least up to the gid)."""
    return [PasswdEntry(row[0], _id(row[2]), _id(row[3]), row[5] if len(row) > 5 else "")
            for row in _rows(data, 4)]


def parse_group(data: bytes | None) -> list[GroupEntry]:
    """``name:password:gid:member,member`` lines (at least up to the gid)."""
    return [GroupEntry(row[0], _id(row[2]),
                       tuple(m for m in row[3].split(",") if m) if len(row) > 3 else ())
            for row in _rows(data, 3)]
