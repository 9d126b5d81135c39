"""Bringing a container's record up to date once its monitor has finished.

The monitor leaves ``"<exit code> <finish time>"`` in ``monitor.lock`` and lets go of the lock
when it ends. Whoever next finds the container recorded as running with the lock free — the
attached command, the fresh process the monitor becomes at its end (``python -m
lamina.runtime.state ROOT ID LOCKFD``), or any later command — records the exit here (or, for
``--rm``, removes the container). Doing it twice is harmless.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from contextlib import suppress
from pathlib import Path

from lamina.runtime.bundle import ContainerDir
from lamina.runtime.mounts import unmount
from lamina.store import ContainerRecord, Store
from lamina.store.events import container_actor, record_quietly


def monitor_alive(store: Store, container_id: str) -> bool:
    """Whether a monitor holds the container's lock (i.e. the container runs)."""
    try:
        fd = os.open(ContainerDir.of(store, container_id).lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def read_exit(data: bytes) -> tuple[int, float] | None:
    """The monitor's ``"<code> <finished>"`` note, or None if it left none."""
    parts = data.split()
    if len(parts) != 2:
        return None
    try:
        return int(parts[0]), float(parts[1])
    except ValueError:
        return None


def exit_note(store: Store, container_id: str) -> tuple[int, float] | None:
    try:
        return read_exit(ContainerDir.of(store, container_id).lock.read_bytes())
    except FileNotFoundError:
        return None


def sync(store: Store, record: ContainerRecord, *, monitor_done: bool = False,
         note: tuple[int, float] | None = None) -> ContainerRecord | None:
    """The record, brought up to date; None when the container is gone (``--rm``).

    ``monitor_done``: the caller knows the monitor has finished (it is its successor, or
    heard its exit), so the lock is not consulted.
    """
    if record.state != "running" and not monitor_done:
        return record
    if not monitor_done and monitor_alive(store, record.id):
        return record
    cdir = ContainerDir.of(store, record.id)
    if note is None and exit_note(store, record.id) is None:
        _kill_orphan(record)
    note = note or exit_note(store, record.id)
    code = str(note[0] if note is not None else 255)
    if record.config.get("HostConfig", {}).get("AutoRemove"):
        cdir.remove()
        if store.containers.delete(record.id):  # once, though two may get here
            record_quietly(store.events, "container", "die",
                           container_actor(record, exitCode=code))
            record_quietly(store.events, "container", "destroy", container_actor(record))
        return None
    unmount(cdir.rootfs)
    with store.transaction():  # whoever records the exit first records the die, once
        current = store.containers.get(record.id)
        if current is not None and current.state == "running":
            record_quietly(store.events, "container", "die",
                           container_actor(record, exitCode=code))
        if note is None:
            store.containers.update(record.id, state="exited", exit_code=255, pid=None,
                                    monitor_pid=None, finished=time.time(),
                                    error="the container's monitor ended unexpectedly")
        else:
            store.containers.update(record.id, state="exited", exit_code=note[0], pid=None,
                                    monitor_pid=None, finished=note[1])
    return store.containers.get(record.id)


def _kill_orphan(record: ContainerRecord) -> None:
    """A monitor that died (killed) may leave its container running: end it, as its owner."""
    from lamina.errors import ContainerError
    from lamina.runtime.oci import STATE_ROOT, Runtime

    for name in ("runc", "crun"):
        if (STATE_ROOT / name / record.id).exists():
            with suppress(ContainerError):
                Runtime(name).delete(record.id, force=True)


def main(argv: list[str]) -> int:
    """The monitor's successor: record the exit, then let go of the lock (by exiting)."""
    root, container_id, lock = argv
    with Store(Path(root)) as store:
        record = store.containers.get(container_id)
        if record is not None:
            note = None
            with suppress(OSError):
                note = read_exit(os.pread(int(lock), 64, 0))
            sync(store, record, monitor_done=True, note=note)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
