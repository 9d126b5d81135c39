"""The seccomp filter of a container, as docker and podman apply one by default.

Profiles are written in docker's format (``defaultAction``, ``archMap``, and ``syscalls`` rules
that apply only ``includes``/``excludes`` some capabilities or architectures); the OCI runtime
takes a plainer form, with the rules for this machine's architecture and the container's
capabilities already chosen. ``for_container`` makes that form.

The default profile is the one Debian's containers-common installs for podman
(``/usr/share/containers/seccomp.json``) when it is there, else lamina's own
(``lamina.runtime.seccomp_profile``). Both are allow-lists: a system call they do not name
fails with an error, the kernel never sees it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamina.errors import InvalidArgument

SYSTEM_PROFILE = Path("/usr/share/containers/seccomp.json")

# uname's machine -> (Go's architecture name, as profiles' "arches" say, libseccomp's)
_ARCHES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "i686": ("386", "SCMP_ARCH_X86"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
}
_ACTIONS = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
            "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
            "SCMP_ACT_NOTIFY"}


def default_profile() -> dict[str, Any]:
    """The profile a container gets unless told otherwise (see the module docstring)."""
    try:
        data = SYSTEM_PROFILE.read_bytes()
    except OSError:
        data = None
    if data:
        try:
            profile = json.loads(data)
        except ValueError:
            profile = None
        if isinstance(profile, dict):
            return profile
    from lamina.runtime.seccomp_profile import profile as own

    return own()


def default_source() -> str:
    """Where the default profile comes from, for ``info``."""
    return str(SYSTEM_PROFILE) if SYSTEM_PROFILE.is_file() else "builtin"


def parse_profile(text: str, source: str) -> dict[str, Any]:
    """A profile given with ``--security-opt seccomp=FILE``, checked as the runtime would."""
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"decoding seccomp profile ({source}) failed: {exc}") from None
    if not isinstance(profile, dict):
        raise InvalidArgument(f"decoding seccomp profile ({source}) failed: not a JSON object")
    actions = [profile.get("defaultAction")]
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list) or not all(isinstance(s, dict) for s in syscalls):
        raise InvalidArgument(f"seccomp profile ({source}): syscalls must be a list of objects")
    actions += [s.get("action") for s in syscalls]
    for action in actions:
        if action not in _ACTIONS:
            raise InvalidArgument(f"seccomp profile ({source}): {action!r} is not a valid "
                                  "action for seccomp")
    return profile


def for_container(profile: dict[str, Any], caps: Sequence[str]) -> dict[str, Any]:
    """The OCI runtime's ``linux.seccomp`` from a docker-format profile, for a container with
    these capabilities on this machine."""
    machine = os.uname().machine
    go_arch, scmp_arch = _ARCHES.get(machine, (machine, ""))
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    architectures = list(profile.get("architectures") or [])
    for arch in profile.get("archMap") or []:
        if arch.get("architecture") == scmp_arch:
            # Not x32: hardly a kernel enables that ABI, and it would cost the runtime a third
            # of the filter's making (~9 ms of CPU for each container). Its calls, absent
            # from the filter, are refused.
            architectures = [scmp_arch, *(a for a in arch.get("subArchitectures", [])
                                          if a != "SCMP_ARCH_X32")]
    if architectures:
        out["architectures"] = architectures
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    have = set(caps)
    kernel = _kernel_version()
    rules = []
    for rule in profile.get("syscalls") or []:
        includes = rule.get("includes") or {}
        excludes = rule.get("excludes") or {}
        if includes.get("caps") and not set(includes["caps"]) <= have:
            continue
        if includes.get("arches") and go_arch not in includes["arches"]:
            continue
        if includes.get("minKernel") and kernel < _version(includes["minKernel"]):
            continue
        if excludes.get("caps") and set(excludes["caps"]) & have:
            continue
        if excludes.get("arches") and go_arch in excludes["arches"]:
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names:
            continue
        entry: dict[str, Any] = {"names": names, "action": rule["action"]}
        if "errnoRet" in rule:
            entry["errnoRet"] = rule["errnoRet"]
        args = [{"index": a["index"], "value": a.get("value", 0),
                 "valueTwo": a.get("valueTwo", 0), "op": a["op"]}
                for a in rule.get("args") or []]
        if args:
            entry["args"] = args
        rules.append(entry)
    out["syscalls"] = rules
    return out


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _kernel_version() -> tuple[int, ...]:
    return _version(os.uname().release.split("-")[0])
