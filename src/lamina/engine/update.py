"""``update``: change a container's resource limits, on record and, while it runs, in its
cgroup at once (through the runtime's ``update``), as docker does.

The new values go into ``HostConfig`` under docker's names, so the next start (a restart, a
start after it stopped) has them too. A value not given stays as it was.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

from lamina.engine.containers import find, runtime_for
from lamina.errors import ContainerError, InvalidArgument
from lamina.store import ContainerRecord, Store

MIN_MEMORY = 6 * 1024 * 1024
CPU_PERIOD = 100_000


class UpdateOptions(NamedTuple):
    """docker update's flags; None is "leave as it is"."""

    memory: int | None = None
    memory_swap: int | None = None  # -1: unlimited swap
    memory_reservation: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpu_rt_period: int | None = None
    cpu_rt_runtime: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    blkio_weight: int | None = None
    restart: str | None = None

    def given(self) -> bool:
        return any(value is not None for value in self)


def check(opts: UpdateOptions) -> None:
    """The values docker refuses before it looks at any container."""
    if not opts.given():
        raise InvalidArgument("you must provide one or more flags when using this command")
    if opts.memory is not None and 0 < opts.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if opts.memory_swap not in (None, -1, 0) and opts.memory is not None and \
            opts.memory_swap is not None and opts.memory_swap < opts.memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, "
                              "see usage")
    if opts.cpus is not None and (opts.cpu_period or opts.cpu_quota):
        raise InvalidArgument("Conflicting options: CPU Quota cannot be updated as NanoCPUs "
                              "has already been set")
    count = len(os.sched_getaffinity(0)) or 1
    if opts.cpus is not None and not 0 <= opts.cpus <= count:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {count:.2f}, as there are only "
                              f"{count} CPUs available")
    if opts.blkio_weight not in (None, 0) and not 10 <= opts.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")


def restart_policy(text: str) -> dict[str, Any]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` as docker records it."""
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if count and not count.lstrip("-").isdigit():
        raise InvalidArgument("invalid restart policy format: maximum retry count must be an "
                              "integer")
    if count and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy "
                              f"'{name}'")
    if count.startswith("-"):
        raise InvalidArgument("maximum retry count cannot be negative")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}


def host_values(opts: UpdateOptions) -> dict[str, Any]:
    """The HostConfig fields the options set."""
    values: dict[str, Any] = {}
    pairs = (("Memory", opts.memory), ("MemorySwap", opts.memory_swap),
             ("MemoryReservation", opts.memory_reservation), ("CpuShares", opts.cpu_shares),
             ("CpuPeriod", opts.cpu_period), ("CpuQuota", opts.cpu_quota),
             ("CpuRealtimePeriod", opts.cpu_rt_period),
             ("CpuRealtimeRuntime", opts.cpu_rt_runtime), ("CpusetCpus", opts.cpuset_cpus),
             ("CpusetMems", opts.cpuset_mems), ("BlkioWeight", opts.blkio_weight))
    for key, value in pairs:
        if value is not None:
            values[key] = value
    if opts.cpus is not None:
        values["NanoCpus"] = round(opts.cpus * 1e9)
    if opts.pids_limit is not None:
        values["PidsLimit"] = opts.pids_limit if opts.pids_limit > 0 else None
    if opts.restart is not None:
        values["RestartPolicy"] = restart_policy(opts.restart)
    return values


def runtime_resources(opts: UpdateOptions) -> dict[str, Any]:
    """The runtime's ``update --resources`` document (LinuxResources) for the options."""
    memory: dict[str, Any] = {}
    if opts.memory is not None:
        memory["limit"] = opts.memory if opts.memory > 0 else -1
    if opts.memory_swap is not None:
        memory["swap"] = opts.memory_swap
    if opts.memory_reservation is not None:
        memory["reservation"] = opts.memory_reservation
    cpu: dict[str, Any] = {}
    if opts.cpus is not None:
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = int(opts.cpus * CPU_PERIOD) if opts.cpus > 0 else -1
    for key, value in (("shares", opts.cpu_shares), ("period", opts.cpu_period),
                       ("quota", opts.cpu_quota), ("realtimePeriod", opts.cpu_rt_period),
                       ("realtimeRuntime", opts.cpu_rt_runtime), ("cpus", opts.cpuset_cpus),
                       ("mems", opts.cpuset_mems)):
        if value is not None:
            cpu[key] = value
    out: dict[str, Any] = {}
    if memory:
        out["memory"] = memory
    if cpu:
        out["cpu"] = cpu
    if opts.pids_limit is not None:
        out["pids"] = {"limit": opts.pids_limit if opts.pids_limit > 0 else -1}
    if opts.blkio_weight is not None:
        out["blockIO"] = {"weight": opts.blkio_weight}
    return out


def update(store: Store, text: str, opts: UpdateOptions) -> ContainerRecord:
    """Update one container (see the module docstring)."""
    record = find(store, text)
    host = dict(record.config.get("HostConfig", {}))
    values = host_values(opts)
    if opts.memory_swap not in (None, -1, 0) and opts.memory is None and \
            host.get("Memory") and opts.memory_swap < host["Memory"]:
        raise ContainerError(f"Cannot update container {record.id}: Minimum memoryswap limit "
                             "should be larger than memory limit, see usage", exit_code=1)
    resources = runtime_resources(opts)
    if record.state == "running" and resources:
        runtime = runtime_for(record, store=store)  # the one that runs it
        result = runtime.call("update", "--resources", "-", record.id, check=False,
                              input=json.dumps(resources).encode())
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip().splitlines()
            raise ContainerError(f"Cannot update container {record.id}: "
                                 f"{message[-1] if message else 'the runtime refused'}",
                                 exit_code=1)
    host.update(values)
    store.containers.update(record.id, config={**record.config, "HostConfig": host})
    if "RestartPolicy" in values and record.state == "running":
        from lamina.runtime.restarts import change_policy

        change_policy(store.containers_dir / record.id, values["RestartPolicy"])
    return record
