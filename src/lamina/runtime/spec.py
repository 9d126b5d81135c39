"""The OCI runtime spec (``config.json``) of a container, as docker would have it run.

Namespaces pid, mount, ipc, uts and network (or the host's network); docker's default
capabilities, masked and read-only paths; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys
and the cgroup tree (read-only); cgroup limits. rlimits stay within the current hard limits,
because root here lacks CAP_SYS_RESOURCE and the runtime would fail to raise them.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from lamina.errors import InvalidArgument
from lamina.runtime.users import User, groups

OCI_VERSION = "1.0.2"

# docker's default capability set (moby oci/caps/defaults.go).
DEFAULT_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
ALL_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
# moby oci/defaults.go
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000


class Bind(NamedTuple):
    """A bind mount: a host path at a path in the container."""

    source: str
    destination: str
    readonly: bool = False
    recursive: bool = True  # read-only all the way down (submounts too), where it can be


class Resources(NamedTuple):
    """cgroup limits; None is no limit."""

    memory: int | None = None  # bytes
    cpus: float | None = None
    pids_limit: int | None = None


class ContainerSpec(NamedTuple):
    """Everything the runtime spec is made from."""

    rootfs: str
    args: Sequence[str]
    env: Sequence[str]
    cwd: str
    user: User
    hostname: str
    network: str = "none"  # "none" or "host"
    terminal: bool = False
    readonly: bool = False
    binds: Sequence[Bind] = ()
    cap_add: Sequence[str] = ()
    cap_drop: Sequence[str] = ()
    resources: Resources = Resources()
    cgroups_path: str | None = None
    annotations: Mapping[str, str] = MappingProxyType({})
    privileged: bool = False  # every capability and device, no masked paths, /sys writable
    seccomp: Mapping[str, Any] | None = None  # linux.seccomp (lamina.runtime.seccomp)
    no_new_privileges: bool = False
    apparmor: str | None = None
    unmasked: bool = False  # --security-opt systempaths=unconfined
    devices: Sequence[Mapping[str, Any]] = ()
    group_add: Sequence[int] = ()  # --group-add, as group IDs


def capabilities(add: Sequence[str], drop: Sequence[str]) -> list[str]:
    """docker's rule: start from the defaults; ALL in add or drop means every capability."""
    caps = list(DEFAULT_CAPS)
    adds = [normalise_cap(c) for c in add]
    drops = [normalise_cap(c) for c in drop]
    if "ALL" in adds:
        caps = bounding_caps()
    if "ALL" in drops:
        caps = []
    caps = [c for c in caps if c not in drops]
    for cap in adds:
        if cap != "ALL" and cap not in caps:
            caps.append(cap)
    return caps


def recursive_readonly() -> bool:
    """Whether the kernel makes a bind recursively read-only (mount_setattr with
    AT_RECURSIVE, Linux 5.12); runc takes it as the "rro" option since 1.1."""
    import os

    release = os.uname().release.split("-")[0].split(".")
    try:
        return (int(release[0]), int(release[1])) >= (5, 12)
    except (IndexError, ValueError):
        return False


def bounding_caps() -> list[str]:
    """Every capability this process may give: ALL_CAPS is in the kernel's numbering, and
    the capabilities missing from our own bounding set cannot be given to a container (as
    when lamina runs in a container itself)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    mask = int(line.split()[1], 16)
                    return [c for i, c in enumerate(ALL_CAPS) if mask >> i & 1]
    except (OSError, ValueError):
        pass
    return list(ALL_CAPS)


def normalise_cap(name: str) -> str:
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability: {name!r}")
    return upper


def _rlimits() -> list[dict[str, Any]]:
    # docker asks for 1048576 open files; we cannot go above the hard limit we have.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1048576 if hard == resource.RLIM_INFINITY else min(hard, 1048576)
    return [{"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}]


def build_spec(c: ContainerSpec) -> dict[str, Any]:
    caps = bounding_caps() if c.privileged else capabilities(c.cap_add, c.cap_drop)
    user: dict[str, Any] = {"uid": c.user.uid, "gid": c.user.gid,
                            "additionalGids": groups(c.user, c.group_add)}
    process: dict[str, Any] = {
        "terminal": c.terminal,
        "user": user,
        "args": list(c.args),
        "env": list(c.env),
        "cwd": c.cwd,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
            # docker gives a non-root user no effective capabilities (inheritable stay empty).
        },
        "rlimits": _rlimits(),
        "noNewPrivileges": c.no_new_privileges,
    }
    if c.apparmor:
        process["apparmorProfile"] = c.apparmor
    if c.user.uid != 0:
        process["capabilities"]["effective"] = []
        process["capabilities"]["permitted"] = []
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if c.network == "none":
        namespaces.append({"type": "network"})
    elif c.network != "host":
        raise InvalidArgument(f"network {c.network!r} is not supported (use none or host)")
    confined = not (c.privileged or c.unmasked)
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "maskedPaths": list(MASKED_PATHS) if confined else [],
        "readonlyPaths": list(READONLY_PATHS) if confined else [],
        "resources": _resources(c.resources, all_devices=c.privileged),
    }
    if c.seccomp is not None:
        linux["seccomp"] = dict(c.seccomp)
    if c.devices:
        linux["devices"] = [dict(d) for d in c.devices]
    if c.cgroups_path:
        linux["cgroupsPath"] = c.cgroups_path
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": c.rootfs, "readonly": c.readonly},
        "hostname": c.hostname,
        "mounts": _mounts(c),
        "linux": linux,
    }
    if c.annotations:
        spec["annotations"] = dict(c.annotations)
    return spec


def _resources(r: Resources, *, all_devices: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"devices": [{"allow": all_devices, "access": "rwm"}]}
    if r.memory is not None:
        out["memory"] = {"limit": r.memory}
    if r.cpus is not None:
        out["cpu"] = {"quota": int(r.cpus * CPU_PERIOD), "period": CPU_PERIOD}
    if r.pids_limit is not None:
        out["pids"] = {"limit": r.pids_limit}
    return out


def _mounts(c: ContainerSpec) -> list[dict[str, Any]]:
    # --privileged: /sys and the cgroup tree writable, as docker has them
    sys_options = ["nosuid", "noexec", "nodev", "rw" if c.privileged else "ro"]
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_options},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["rw" if c.privileged else "ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    ]
    for bind in c.binds:
        options = ["rbind", "rprivate"]
        if bind.readonly:
            # "rro": read-only submounts too (mount_setattr, Linux 5.12+), as docker 25+;
            # an older kernel has only the top mount read-only.
            options += ["ro", "rro"] if bind.recursive and recursive_readonly() else ["ro"]
        mounts.append({"destination": bind.destination, "type": "bind", "source": bind.source,
                       "options": options})
    return mounts
