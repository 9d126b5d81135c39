"""``stats``: what containers use (CPU, memory, block I/O, processes), read from their cgroups.

CPU % is docker's: the container's CPU time over the host's during an interval, times the
number of CPUs (so one busy core reads 100 %). Two readings ``interval`` apart make one figure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from lamina.engine.containers import find, listing
from lamina.store import ContainerRecord, Store


class StatsRow(NamedTuple):
    container: str  # as the user named it (docker's .Container), else the ID
    id: str
    name: str
    cpu_percent: float
    memory: int
    memory_limit: int
    pids: int
    read_bytes: int
    written_bytes: int
    running: bool

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory / self.memory_limit if self.memory_limit else 0.0


def containers_for_stats(store: Store, names: Sequence[str], *, all: bool = False
                         ) -> list[tuple[str, ContainerRecord]]:
    """The containers named (each as named), else the running ones (with ``all``, every one)."""
    if names:
        return [(name, find(store, name)) for name in names]
    return [(record.id, record) for record in listing(store)
            if all or record.state == "running"]


def sample(chosen: Sequence[tuple[str, ContainerRecord]], interval: float = 1.0
           ) -> list[StatsRow]:
    from lamina.runtime import cgroups

    def read() -> tuple[int, dict[str, cgroups.Usage]]:
        return cgroups.system_cpu_ns(), {record.id: cgroups.usage(record.id)
                                         for _, record in chosen if record.state == "running"}

    system_before, before = read()
    time.sleep(interval)
    system_after, after = read()
    cpus = cgroups.online_cpus()
    rows = []
    for name, record in chosen:
        now = after.get(record.id)
        if now is None:  # not running: docker shows zeros
            rows.append(StatsRow(name, record.id, record.name, 0.0, 0, 0, 0, 0, 0, False))
            continue
        cpu_delta = now.cpu_ns - before[record.id].cpu_ns
        system_delta = system_after - system_before
        percent = 100.0 * cpus * cpu_delta / system_delta if system_delta > 0 else 0.0
        rows.append(StatsRow(name, record.id, record.name, max(0.0, percent), now.memory,
                             now.memory_limit, now.pids, now.read_bytes, now.written_bytes,
                             True))
    return rows

