"""The one parser of /etc/passwd and /etc/group, and the one range of IDs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.errors import BuildError, ContainerError, InvalidArgument
from lamina.model.passwd import (
    MAX_ID,
    GroupEntry,
    PasswdEntry,
    parse_group,
    parse_id,
    parse_passwd,
)

PASSWD = b"""# a comment
root:x:0:0:root:/root:/bin/sh

alice:x:1000:1000:Alice:/home/alice:/bin/sh
short:x:7
nogid:x:12:x:::
big:x:4294967295:0::/:
minimal:x:5:6
caf\xc3\xa9:x:9:9::/h:
bad\xff:x:10:10::/b:
"""

GROUP = b"""root:x:0:
staff:x:50:alice,bob
wheel:x:10:alice
noid:x:zz:alice
tiny:x:3
"""


def test_passwd() -> None:
    assert parse_passwd(PASSWD) == [
        PasswdEntry("root", 0, 0, "/root"),
        PasswdEntry("alice", 1000, 1000, "/home/alice"),
        PasswdEntry("nogid", 12, None, ""),
        PasswdEntry("big", None, 0, "/"),  # out of range: names nobody
        PasswdEntry("minimal", 5, 6, ""),
        PasswdEntry("café", 9, 9, "/h"),
        PasswdEntry("bad\ufffd", 10, 10, "/b"),
    ]
    assert parse_passwd(None) == parse_passwd(b"") == []


def test_group() -> None:
    assert parse_group(GROUP) == [
        GroupEntry("root", 0, ()),
        GroupEntry("staff", 50, ("alice", "bob")),
        GroupEntry("wheel", 10, ("alice",)),
        GroupEntry("noid", None, ("alice",)),
        GroupEntry("tiny", 3, ()),
    ]


def test_one_range_of_ids() -> None:
    assert parse_id("0") == 0
    assert parse_id(str(MAX_ID)) == MAX_ID
    assert parse_id("alice") is None
    assert parse_id("²") is None  # a Unicode digit is no number here
    assert parse_id("-1") is None
    for error in (InvalidArgument, BuildError, ContainerError):
        with pytest.raises(error, match="out of range"):
            parse_id(str(MAX_ID + 1), error)


@given(st.binary(max_size=2000))
def test_any_bytes_parse_without_error(data: bytes) -> None:
    for entry in parse_passwd(data):
        assert entry.uid is None or 0 <= entry.uid <= MAX_ID
    for group in parse_group(data):
        assert group.gid is None or 0 <= group.gid <= MAX_ID
