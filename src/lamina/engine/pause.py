"""``pause`` and ``unpause``: a running container's processes frozen in their cgroup, and thawed.

The kernel keeps the truth (the cgroup's freezer state, ``lamina.runtime.cgroups.frozen``), so the
store records nothing new: a paused container is a running one whose cgroup is frozen, and
``ps``, ``inspect``, ``exec``, ``stop`` and ``kill`` ask the kernel when it matters.
"""

from __future__ import annotations

from lamina.engine.containers import find, runtime_for
from lamina.errors import ContainerError
from lamina.store import ContainerRecord, Store


def pause(store: Store, text: str) -> ContainerRecord:
    from lamina.runtime.cgroups import frozen

    record = find(store, text)
    if record.state != "running":
        raise ContainerError(f"Container {record.id} is not running", exit_code=1)
    if frozen(record.id):
        raise ContainerError(f"Container {record.id} is already paused", exit_code=1)
    runtime_for(record, store=store).pause(record.id)
    return record


def unpause(store: Store, text: str) -> ContainerRecord:
    from lamina.runtime.cgroups import frozen

    record = find(store, text)
    if record.state != "running" or not frozen(record.id):
        raise ContainerError(f"Container {record.id} is not paused", exit_code=1)
    runtime_for(record, store=store).resume(record.id)
    return record
