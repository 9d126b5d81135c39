"""A container's cgroup, read where the kernel keeps it: paused or not, and what it uses.

The runtime puts each container in ``/lamina/<id>`` below the root of every hierarchy. With
cgroup v1 (or a hybrid layout, as on these machines) each controller has its own hierarchy
under /sys/fs/cgroup/<controller>; with v2 there is one, /sys/fs/cgroup itself. Each reading
tries v1 first, then v2, and a file that is not there reads as nothing used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

ROOT = Path("/sys/fs/cgroup")
_IO = {"Read": 0, "rbytes": 0, "Write": 1, "wbytes": 1}  # block I/O: v1 and v2 names


def cgroup_path(container_id: str) -> str:
    """The container's cgroup, below the root of each hierarchy (``cgroupsPath`` of its spec)."""
    return f"/lamina/{container_id}"


def _read(container_id: str, v1: tuple[str, str], v2: str) -> str | None:
    where = cgroup_path(container_id).lstrip("/")
    for path in (ROOT / v1[0] / where / v1[1], ROOT / where / v2):
        try:
            return path.read_text()
        except OSError:
            continue
    return None


def frozen(container_id: str) -> bool:
    """Whether the container is paused: its cgroup frozen."""
    text = _read(container_id, ("freezer", "freezer.state"), "cgroup.freeze")
    return text is not None and text.strip() in ("FROZEN", "FREEZING", "1")


class Usage(NamedTuple):
    """What a container's processes use, at one moment."""

    cpu_ns: int  # CPU time used since it started
    memory: int  # bytes in use, the page cache that could be dropped left out (as docker)
    memory_limit: int  # its limit, or the host's memory when it has none
    pids: int
    read_bytes: int
    written_bytes: int


def usage(container_id: str) -> Usage:
    cpu_ns = 0
    text = _read(container_id, ("cpuacct", "cpuacct.usage"), "cpu.stat")
    if text is not None:
        fields = dict(_pairs(text))
        cpu_ns = fields["usage_usec"] * 1000 if "usage_usec" in fields else _int(text)
    memory = _int(_read(container_id, ("memory", "memory.usage_in_bytes"), "memory.current"))
    stat = dict(_pairs(_read(container_id, ("memory", "memory.stat"), "memory.stat") or ""))
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    if inactive < memory:
        memory -= inactive
    limit = _int(_read(container_id, ("memory", "memory.limit_in_bytes"), "memory.max"))
    host = host_memory()
    if limit <= 0 or limit > host:
        limit = host  # "max", or v1's "no limit" (2^63 rounded down to a page)
    pids = _int(_read(container_id, ("pids", "pids.current"), "pids.current"))
    io = [0, 0]  # read, written
    text = _read(container_id, ("blkio", "blkio.throttle.io_service_bytes_recursive"),
                 "io.stat") or ""
    for line in text.splitlines():
        # v1: "8:0 Read 4096" (and Write, Sync, Total...); v2: "8:0 rbytes=4096 wbytes=0 ..."
        words = line.split()[1:]
        pairs = [word.split("=", 1) for word in words] if "=" in line else [words]
        for key, value in (pair for pair in pairs if len(pair) == 2):
            if key in _IO and value.isdigit():
                io[_IO[key]] += int(value)
    read, written = io
    return Usage(cpu_ns, memory, limit, pids, read, written)


def system_cpu_ns() -> int:
    """The CPU time of the whole host (every CPU, busy or idle), as docker's CPU % divides."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]  # user nice system idle iowait irq softirq
    return sum(int(field) for field in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def online_cpus() -> int:
    return os.sysconf("SC_NPROCESSORS_ONLN")


def host_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _int(text: str | None) -> int:
    if text is None:
        return 0
    text = text.strip()
    return int(text) if text.isdigit() else 0


def _pairs(text: str) -> list[tuple[str, int]]:
    pairs = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            pairs.append((key, int(value)))
    return pairs
