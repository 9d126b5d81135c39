"""``--chown=user[:group]`` of COPY and ADD, resolved through the image's own files.

Names are looked up in ``/etc/passwd`` and ``/etc/group`` of the stage's rootfs as it is
before the step (read through ``MergedTree``, so a symlinked ``/etc/passwd`` only ever leads
to another file of the image). As docker does: a user given without a group gets the group
of the same number as the user's ID.
"""

from __future__ import annotations

import os
import stat

from lamina.build.rootfs import MergedTree
from lamina.errors import BuildError

_MAX_ID = 2**32 - 2
_LIMIT = 4 << 20


def _read(tree: MergedTree, path: str) -> list[list[str]]:
    entry = tree.find(path)
    if entry is None or not stat.S_ISREG(entry.st.st_mode):
        return []
    fd = tree.open_file(entry)
    try:
        data = os.read(fd, _LIMIT)
    finally:
        os.close(fd)
    rows = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _number(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value > _MAX_ID:
            raise BuildError(f"user or group ID {text} is out of range")
        return value
    return None


def resolve_owner(tree: MergedTree, spec: str) -> tuple[int, int]:
    user, sep, group = spec.partition(":")
    if not user:
        raise BuildError(f"invalid --chown value {spec!r}")
    uid = _number(user)
    if uid is None:
        for row in _read(tree, "/etc/passwd"):
            if len(row) >= 4 and row[0] == user and row[2].isdigit():
                uid = int(row[2])
                break
        else:
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                             f"can't find uid for user {user}: no such user: {user}")
    if not sep or not group:
        return uid, uid
    gid = _number(group)
    if gid is None:
        for row in _read(tree, "/etc/group"):
            if len(row) >= 3 and row[0] == group and row[2].isdigit():
                gid = int(row[2])
                break
        else:
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                             f"can't find gid for group {group}: no such group: {group}")
    return uid, gid
