"""A container whose monitor has finished: what the runtime reports, and its clean-up.

The monitor leaves ``"<exit code> <finish time>"`` in ``monitor.lock`` and lets go of the lock
when it ends. Whoever next finds the container recorded as running with the lock free has the
runtime ``settle`` it (an orphan ended, the rootfs unmounted, ``--rm``'s directory removed)
and records the report: that is the engine's part (``lamina.engine.exits``). Doing it twice
is harmless.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import suppress
from typing import NamedTuple

from lamina.runtime.bundle import ContainerDir
from lamina.runtime.mounts import unmount
from lamina.store import ContainerRecord, Store


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


class Ended(NamedTuple):
    """How a container whose monitor is gone ended, as the runtime reports it."""

    exit_code: int
    finished: float  # epoch seconds
    error: str = ""  # set when nobody saw the end (the monitor died)
    removed: bool = False  # --rm: its directory is gone, its record is to go


def settle(store: Store, record: ContainerRecord, *,
           note: tuple[int, float] | None = None) -> Ended:
    """The runtime's part once a container's monitor is gone: a container the monitor left
    behind (it was killed) is ended, the rootfs unmounted, a ``--rm`` container's directory
    removed; and what happened is reported. The store's database is not touched: the
    engine records the report (``lamina.engine.exits``)."""
    cdir = ContainerDir.of(store, record.id)
    if note is None and exit_note(store, record.id) is None:
        _kill_orphan(cdir, record)
    note = note or exit_note(store, record.id)
    removed = bool(record.config.get("HostConfig", {}).get("AutoRemove"))
    if removed:
        cdir.remove()
    else:
        from lamina.runtime.bundle import release_network

        release_network(cdir)
        unmount(cdir.rootfs)
    if note is None:
        return Ended(255, time.time(), "the container's monitor ended unexpectedly", removed)
    return Ended(note[0], note[1], "", removed)


def _kill_orphan(cdir: ContainerDir, record: ContainerRecord) -> None:
    """A monitor that died (killed) may leave its container running: end it, as its owner,
    with the runtime that started it."""
    from lamina.errors import ContainerError
    from lamina.runtime.oci import Runtime

    runtime = Runtime.of(cdir.path)
    if runtime is not None and (runtime.state_root / record.id).exists():
        with suppress(ContainerError):
            runtime.delete(record.id, force=True)
