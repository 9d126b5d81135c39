"""The pieces of confinement that need no container: detach keys, the translation of a
docker-format seccomp profile for a container, and --security-opt's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.errors import InvalidArgument
from lamina.runtime import seccomp
from lamina.runtime.detach import Matcher, parse_keys
from lamina.runtime.security import Security, check_security_opts


def test_detach_keys() -> None:
    assert parse_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,a,Z") == \
        b"\x00\x1b\x1c\x1d\x1e\x1faZ"
    for bad in ("", "ctrl-", "ctrl-1", "ab", "ctrl-p,", "ctrl-pp"):
        with pytest.raises(InvalidArgument, match="Invalid escape keys"):
            parse_keys(bad)


def test_matcher_holds_back_a_partial_sequence() -> None:
    m = Matcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == b"ab"  # held: it may be the start
    assert m.feed(b"c") == b"\x10c" and not m.detached  # it was not: passed on
    assert m.feed(b"\x10\x10") == b"\x10"  # the second may start it again
    assert m.feed(b"\x11rest") == b"" and m.detached  # what follows is not sent


def profile() -> dict:
    return {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                     "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["arch_only"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["s390x"]}},
            {"names": ["future"], "action": "SCMP_ACT_ALLOW",
             "includes": {"minKernel": "99.0"}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        ],
    }


def test_profile_for_a_container() -> None:
    import os

    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the sample profile maps x86_64 and aarch64")
    plain = seccomp.for_container(profile(), ["CAP_CHOWN"])
    names = {(n, r["action"]) for r in plain["syscalls"] for n in r["names"]}
    assert ("read", "SCMP_ACT_ALLOW") in names
    assert ("mount", "SCMP_ACT_ERRNO") in names and ("mount", "SCMP_ACT_ALLOW") not in names
    assert not {n for n, _ in names} & {"arch_only", "future"}
    assert "SCMP_ARCH_X32" not in plain["architectures"]  # (left out on purpose)
    assert plain["architectures"][0] in ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64")
    arg = next(r for r in plain["syscalls"] if r["names"] == ["personality"])["args"]
    assert arg == [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]
    admin = seccomp.for_container(profile(), ["CAP_SYS_ADMIN"])
    names = {(n, r["action"]) for r in admin["syscalls"] for n in r["names"]}
    assert ("mount", "SCMP_ACT_ALLOW") in names and ("mount", "SCMP_ACT_ERRNO") not in names


def test_security_opts_on_record(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile(), indent=4))
    opts = check_security_opts(["no-new-privileges", f"seccomp={path}", "apparmor=unconfined",
                                "label=disable"])
    assert opts[0] == "no-new-privileges"
    assert opts[1].startswith('seccomp={"defaultAction"') and "\n" not in opts[1]
    security = Security.of({"SecurityOpt": opts, "Privileged": False})
    assert security.no_new_privileges and security.labels == ("disable",)
    assert security.apparmor_profile() is None  # unconfined, and no AppArmor asked for
    assert security.seccomp_spec(["CAP_CHOWN"])["defaultErrnoRet"] == 1  # type: ignore[index]
    assert Security.of({"Privileged": True}).seccomp_spec(["CAP_CHOWN"]) is None
    assert Security.of({"SecurityOpt": ["seccomp=unconfined"]}).seccomp_spec([]) is None
    assert Security.of({"SecurityOpt": ["no-new-privileges=false"]}).no_new_privileges is False
    for bad in ("foo", "seccomp", "apparmor=", "no-new-privileges=maybe", "bogus=1",
                "systempaths=confined", f"seccomp={tmp_path}/missing.json"):
        with pytest.raises(InvalidArgument):
            check_security_opts([bad])
