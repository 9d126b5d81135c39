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
from lamina.model.passwd import parse_group, parse_id, parse_passwd

_LIMIT = 4 << 20


def _read(tree: MergedTree, path: str) -> bytes:
    entry = tree.find(path)
    if entry is None or not stat.S_ISREG(entry.st.st_mode):
        return b""
    fd = tree.open_file(entry)
    try:
        return os.read(fd, _LIMIT)
    finally:
        os.close(fd)


def _number(text: str) -> int | None:
    return parse_id(text, BuildError)


def resolve_owner(tree: MergedTree, spec: str) -> tuple[int, int]:
    user, sep, group = spec.partition(":")
    if not user:
        raise BuildError(f"invalid --chown value {spec!r}")
    uid = _number(user)
    if uid is None:
        for entry in parse_passwd(_read(tree, "/etc/passwd")):
            if entry.name == user and entry.uid is not None:
                uid = entry.uid
                break
        else:
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                             f"can't find uid for user {user}: no such user: {user}")
    if not sep or not group:
        return uid, uid
    gid = _number(group)
    if gid is None:
        for group_entry in parse_group(_read(tree, "/etc/group")):
            if group_entry.name == group and group_entry.gid is not None:
                gid = group_entry.gid
                break
        else:
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: "
                             f"can't find gid for group {group}: no such group: {group}")
    return uid, gid
