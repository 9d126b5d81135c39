"""``--user`` / the image's ``User``, resolved as docker does, through the container's own files.

``name``, ``uid``, ``name:group``, ``uid:gid`` (and mixes): names are looked up in the rootfs'
``/etc/passwd`` and ``/etc/group``, read through ``RootFS`` so a symlinked ``/etc/passwd`` can
only ever lead to another file of the image. A numeric uid absent from passwd is used as is,
with gid 0 and HOME ``/``; a name that is not there is an error. Supplementary groups are the
groups that list the user, as docker gives them; ``groups`` makes the process's whole list
(docker's: the primary group first, then those, then ``--group-add``'s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from lamina.errors import ContainerError
from lamina.runtime.rootpath import RootFS

MAX_ID = 2**31 - 1


class User(NamedTuple):
    """Who the container's process runs as, resolved in its own /etc/passwd and group."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"
    name: str | None = None


def _entries(data: bytes | None, fields: int) -> list[list[str]]:
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


def _number(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value > MAX_ID:
            raise ContainerError(f"user or group ID {text} is out of range")
        return value
    return None


def resolve_user(rootfs: RootFS, spec: str) -> User:
    """The uid, gid, groups and home of ``spec`` in this rootfs."""
    spec = spec.strip()
    if not spec:
        spec = "0"
    user_part, sep, group_part = spec.partition(":")
    if sep and not group_part:
        raise ContainerError(f"invalid user {spec!r}: empty group")
    passwd = _entries(rootfs.read("/etc/passwd"), 7)
    uid = _number(user_part)
    gid = 0
    home = "/"
    name: str | None = None
    for row in passwd:
        if (uid is None and row[0] == user_part) or (
            uid is not None and row[2].isdigit() and int(row[2]) == uid
        ):
            name = row[0]
            if uid is None:
                uid = _number(row[2])
            gid = _number(row[3]) or 0
            home = row[5] or "/"
            break
    if uid is None:
        raise ContainerError(
            f"unable to find user {user_part}: no matching entries in passwd file"
        )
    groups = _entries(rootfs.read("/etc/group"), 4) if (sep or name) else []
    if sep:
        number = _number(group_part)
        if number is not None:
            gid = number
        else:
            for row in groups:
                if row[0] == group_part and _number(row[2]) is not None:
                    gid = int(row[2])
                    break
            else:
                raise ContainerError(
                    f"unable to find group {group_part}: no matching entries in group file"
                )
    extra: list[int] = []
    if name is not None and not sep:  # docker: an explicit group means no others
        for row in groups:
            members = row[3].split(",") if row[3] else []
            number = _number(row[2]) if row[2].isdigit() else None
            if name in members and number is not None and number != gid and number not in extra:
                extra.append(number)
    return User(uid, gid, tuple(extra), home, name)


def added_groups(rootfs: RootFS, names: Sequence[str]) -> tuple[int, ...]:
    """``--group-add`` entries as group IDs: numbers as they are, names from /etc/group."""
    if not names:
        return ()
    rows = None
    out = []
    for text in names:
        number = _number(text.strip())
        if number is None:
            if rows is None:
                rows = _entries(rootfs.read("/etc/group"), 4)
            for row in rows:
                if row[0] == text.strip() and row[2].isdigit():
                    number = _number(row[2])
                    break
            else:
                raise ContainerError(
                    f"Unable to find group {text}: no matching entries in group file")
        assert number is not None
        out.append(number)
    return tuple(out)


def groups(user: User, extra: Sequence[int] = ()) -> list[int]:
    """The process's supplementary groups, as docker sets them: the primary group, the groups
    that list the user, then ``extra`` (``--group-add``); each once."""
    out: list[int] = []
    for gid in (user.gid, *user.additional_gids, *extra):
        if gid not in out:
            out.append(gid)
    return out
