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
    memory_swap: int | None = None  # memory + swap, bytes; -1 is unlimited
    memory_reservation: int | None = None
    oom_kill_disable: bool = False
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    blkio_weight: int | None = None


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
    rlimits: Sequence[tuple[str, int, int]] = ()  # (nofile, soft, hard), over the defaults
    shm_size: int | None = None  # bytes of /dev/shm (docker's 64 MiB when None)
    mounts: Sequence[Mapping[str, Any]] = ()  # more OCI mounts (tmpfs), after the binds
    # Namespace -> "" (its own), "host" (none of its own) or a path to join: ipc, pid, uts,
    # cgroup; ipc "none" is its own without /dev/shm.
    namespaces: Mapping[str, str] = MappingProxyType({})
    domainname: str = ""
    privileged: bool = False  # every capability and device, no masked paths, /sys writable
    seccomp: Mapping[str, Any] | None = None  # linux.seccomp (lamina.runtime.seccomp)
    no_new_privileges: bool = False
    apparmor: str | None = None
    unmasked: bool = False  # --security-opt systempaths=unconfined
    devices: Sequence[Mapping[str, Any]] = ()  # OCI linux.devices entries, allowed rwm
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


def _rlimits(asked: Sequence[tuple[str, int, int]] = ()) -> list[dict[str, Any]]:
    # docker asks for 1048576 open files; we cannot go above the hard limit we have.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1048576 if hard == resource.RLIM_INFINITY else min(hard, 1048576)
    limits = {"RLIMIT_NOFILE": (limit, limit)}
    for name, soft, hard_limit in asked:
        key = "RLIMIT_" + name.upper()
        check_rlimit(name, hard_limit)
        limits[key] = (soft, hard_limit)
    return [{"type": key, "soft": soft, "hard": hard} for key, (soft, hard) in limits.items()]


def check_rlimit(name: str, hard: int) -> None:
    """A hard limit above ours needs CAP_SYS_RESOURCE: say so plainly when we lack it,
    rather than leave the runtime to fail with "operation not permitted"."""
    ours = resource.getrlimit(getattr(resource, "RLIMIT_" + name.upper()))[1]
    if ours == resource.RLIM_INFINITY or hard <= ours or has_capability(CAP_SYS_RESOURCE):
        return
    raise InvalidArgument(
        f"--ulimit {name}: the hard limit {hard} is above this machine's hard limit {ours}, "
        "and raising a hard limit needs CAP_SYS_RESOURCE, which lamina does not have here; "
        f"ask for at most {ours}")


CAP_SYS_RESOURCE = 24


def has_capability(number: int) -> bool:
    """Whether this process has the capability (bit ``number``) in its effective set."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> number & 1)
    except (OSError, ValueError):
        pass
    return False


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
        "rlimits": _rlimits(c.rlimits),
        "noNewPrivileges": c.no_new_privileges,
    }
    if c.apparmor:
        process["apparmorProfile"] = c.apparmor
    if c.user.uid != 0:
        process["capabilities"]["effective"] = []
        process["capabilities"]["permitted"] = []
    namespaces: list[dict[str, Any]] = []
    for kind in ("pid", "ipc", "uts", "mount", "cgroup"):
        mode = c.namespaces.get(kind, "host" if kind == "cgroup" else "")
        if mode == "host":
            continue
        namespaces.append({"type": kind, "path": mode} if mode.startswith("/") else
                          {"type": kind})
    if c.network == "none":
        namespaces.append({"type": "network"})
    elif c.network.startswith("/"):  # a namespace made for it (lamina.network)
        namespaces.append({"type": "network", "path": c.network})
    elif c.network != "host":
        raise InvalidArgument(f"network {c.network!r} is not supported (use none or host)")
    confined = not (c.privileged or c.unmasked)
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "maskedPaths": list(MASKED_PATHS) if confined else [],
        "readonlyPaths": list(READONLY_PATHS) if confined else [],
        "resources": _resources(c.resources, all_devices=c.privileged),
    }
    if c.domainname and c.namespaces.get("uts") != "host":
        # (the spec's "domainname" needs runc 1.2; this sysctl works in every version)
        linux["sysctl"] = {"kernel.domainname": c.domainname}
    if c.seccomp is not None:
        linux["seccomp"] = dict(c.seccomp)
    if c.devices:
        linux["devices"] = [dict(d) for d in c.devices]
        linux["resources"]["devices"] += [
            {"allow": True, "type": d["type"], "major": d["major"], "minor": d["minor"],
             "access": d.get("access", "rwm")} for d in c.devices]
    if c.cgroups_path:
        linux["cgroupsPath"] = c.cgroups_path
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": c.rootfs, "readonly": c.readonly},
        **({} if c.namespaces.get("uts") == "host" else {"hostname": c.hostname}),
        "mounts": _mounts(c),
        "linux": linux,
    }
    if c.annotations:
        spec["annotations"] = dict(c.annotations)
    return spec


def _resources(r: Resources, *, all_devices: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"devices": [{"allow": all_devices, "access": "rwm"}]}
    memory: dict[str, Any] = {}
    if r.memory is not None:
        memory["limit"] = r.memory
    if r.memory_swap is not None:
        memory["swap"] = r.memory_swap
    if r.memory_reservation is not None:
        memory["reservation"] = r.memory_reservation
    if r.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if r.cpus is not None:
        cpu.update(quota=int(r.cpus * CPU_PERIOD), period=CPU_PERIOD)
    if r.cpu_quota is not None:
        cpu["quota"] = r.cpu_quota
    if r.cpu_period is not None:
        cpu["period"] = r.cpu_period
    if r.cpu_shares is not None:
        cpu["shares"] = r.cpu_shares
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if cpu:
        out["cpu"] = cpu
    if r.blkio_weight:
        out["blockIO"] = {"weight": r.blkio_weight}
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
    ]
    ipc = c.namespaces.get("ipc", "")
    if ipc == "host":
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                       "options": ["rbind", "rprivate"]})
    elif ipc != "none":
        size = c.shm_size if c.shm_size is not None else 64 * 1024 * 1024
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={size}"]})
    for bind in c.binds:
        options = ["rbind", "rprivate"]
        if bind.readonly:
            # "rro": read-only submounts too (mount_setattr, Linux 5.12+), as docker 25+;
            # an older kernel has only the top mount read-only.
            options += ["ro", "rro"] if bind.recursive and recursive_readonly() else ["ro"]
        mounts.append({"destination": bind.destination, "type": "bind", "source": bind.source,
                       "options": options})
    mounts += [dict(m) for m in c.mounts]
    return mounts
