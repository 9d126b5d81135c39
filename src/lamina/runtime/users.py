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
from lamina.model.passwd import parse_group, parse_id, parse_passwd
from lamina.runtime.rootpath import RootFS

__all__ = ["User", "added_groups", "groups", "resolve_user"]


class User(NamedTuple):
    """Who the container's process runs as, resolved in its own /etc/passwd and group."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"
    name: str | None = None


def _number(text: str) -> int | None:
    return parse_id(text, ContainerError)


def resolve_user(rootfs: RootFS, spec: str) -> User:
    """The uid, gid, groups and home of ``spec`` in this rootfs."""
    spec = spec.strip()
    if not spec:
        spec = "0"
    user_part, sep, group_part = spec.partition(":")
    if sep and not group_part:
        raise ContainerError(f"invalid user {spec!r}: empty group")
    passwd = parse_passwd(rootfs.read("/etc/passwd"))
    uid = _number(user_part)
    gid = 0
    home = "/"
    name: str | None = None
    for entry in passwd:
        if (uid is None and entry.name == user_part) or (uid is not None and entry.uid == uid):
            name = entry.name
            if uid is None:
                uid = entry.uid
            gid = entry.gid or 0
            home = entry.home or "/"
            break
    if uid is None:
        raise ContainerError(
            f"unable to find user {user_part}: no matching entries in passwd file"
        )
    groups = parse_group(rootfs.read("/etc/group")) if (sep or name) else []
    if sep:
        number = _number(group_part)
        if number is not None:
            gid = number
        else:
            for group in groups:
                if group.name == group_part and group.gid is not None:
                    gid = group.gid
                    break
            else:
                raise ContainerError(
                    f"unable to find group {group_part}: no matching entries in group file"
                )
    extra: list[int] = []
    if name is not None and not sep:  # docker: an explicit group means no others
        for group in groups:
            number = group.gid
            if name in group.members and number is not None and number != gid \
                    and number not in extra:
                extra.append(number)
    return User(uid, gid, tuple(extra), home, name)


def added_groups(rootfs: RootFS, names: Sequence[str]) -> tuple[int, ...]:
    """``--group-add`` entries as group IDs: numbers as they are, names from /etc/group."""
    if not names:
        return ()
    entries = None
    out = []
    for text in names:
        number = _number(text.strip())
        if number is None:
            if entries is None:
                entries = parse_group(rootfs.read("/etc/group"))
            for group in entries:
                if group.name == text.strip() and group.gid is not None:
                    number = group.gid
                    break
            else:
                raise ContainerError(
                    f"Unable to find group {text}: no matching entries in group file")
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
