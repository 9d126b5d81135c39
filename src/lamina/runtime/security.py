"""``--security-opt`` and ``--privileged``: what they are on record, and what they make of the
runtime spec.

On record (``HostConfig.SecurityOpt``) the options are kept as docker keeps them, a profile
file's JSON inline (``seccomp={...}``), so a container does not depend on the file once it is
created. ``Security.of`` reads them back for the spec.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from lamina.errors import InvalidArgument, UsageError

_BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
          "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}


def check_security_opts(opts: Sequence[str]) -> list[str]:
    """The options as they go on record; a bad one fails here, naming it, as docker's."""
    out = []
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")  # docker's older spelling, seccomp:unconfined
        if (not sep or not value) and key != "no-new-privileges":
            raise UsageError(f'Invalid --security-opt: "{opt}"')
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            from lamina.runtime.seccomp import parse_profile

            try:
                text = Path(value).read_text()
            except OSError as exc:
                raise UsageError(f"opening seccomp profile ({value}) failed: "
                                 f"{exc.strerror or exc}") from None
            profile = parse_profile(text, value)
            out.append("seccomp=" + json.dumps(profile, separators=(",", ":")))
            continue
        # (what docker's engine refuses, in its words: "2" is its second check)
        refused = {
            "no-new-privileges": bool(sep) and value not in _BOOLS,
            "systempaths": value != "unconfined",
            "writable-cgroups": value not in _BOOLS,
        }.get(key, key not in ("apparmor", "label", "seccomp"))
        if refused:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
        out.append(f"{key}={value}" if sep else key)
    return out


class Security(NamedTuple):
    """A container's security settings, read from its HostConfig."""

    privileged: bool = False
    seccomp: str = "default"  # "default", "unconfined" or a profile's JSON
    no_new_privileges: bool = False
    apparmor: str | None = None
    labels: tuple[str, ...] = ()
    unmasked: bool = False  # systempaths=unconfined: no masked or read-only /proc paths

    @classmethod
    def of(cls, host: Mapping[str, Any]) -> Security:
        seccomp = "default"
        nnp = False
        apparmor = None
        labels: list[str] = []
        unmasked = False
        for opt in host.get("SecurityOpt") or ():
            key, sep, value = str(opt).partition("=")
            if key == "seccomp":
                seccomp = "default" if value == "builtin" else value
            elif key == "no-new-privileges":
                nnp = _BOOLS.get(value, True) if sep else True
            elif key == "apparmor":
                apparmor = value
            elif key == "label":
                labels.append(value)
            elif key == "systempaths":
                unmasked = value == "unconfined"
        return cls(bool(host.get("Privileged")), seccomp, nnp, apparmor, tuple(labels),
                   unmasked)

    def seccomp_spec(self, caps: Sequence[str]) -> dict[str, Any] | None:
        """``linux.seccomp`` for a container with these capabilities; None: no filter
        (unconfined, and --privileged, as docker)."""
        if self.privileged or self.seccomp == "unconfined":
            return None
        from lamina.runtime import seccomp

        profile = seccomp.default_profile() if self.seccomp == "default" else \
            json.loads(self.seccomp)
        return seccomp.for_container(profile, caps)

    def apparmor_profile(self) -> str | None:
        """The AppArmor profile to confine the process with, when the host has AppArmor
        (docker ignores the option on a host without it, and so does lamina)."""
        if self.apparmor in (None, "unconfined") or not apparmor_enabled():
            return None
        return self.apparmor


def apparmor_enabled() -> bool:
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().startswith("Y")
    except OSError:
        return False


RUNTIME_DEVICES = frozenset(f"/dev/{name}" for name in (
    "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx"))


def host_devices() -> list[dict[str, Any]]:
    """The host's device nodes, as ``--privileged`` gives them to a container (docker's
    rule: every character and block device under /dev)."""
    import os
    import stat

    devices: list[dict[str, Any]] = []
    for top, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/dev/pts", "/dev/shm",
                                                                    "/dev/mqueue")]
        for name in files:
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue
            if path in RUNTIME_DEVICES:
                continue  # the runtime makes these in every container
            devices.append({"path": path, "type": kind, "major": os.major(st.st_rdev),
                            "minor": os.minor(st.st_rdev),
                            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
                            "gid": st.st_gid})
    return devices
