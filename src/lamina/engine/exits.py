"""Recording how a container ended: the runtime reports, the engine records.

The monitor leaves ``"<exit code> <finish time>"`` in ``monitor.lock`` and lets go of the lock
when it ends. Whoever next finds the container recorded as running with the lock free — the
attached command, the fresh process the monitor becomes at its end (``python -m
lamina.engine.exits ROOT ID LOCKFD``, the command the engine hands the monitor at launch), or
any later command — has the runtime settle it (``lamina.runtime.state.settle``: an orphan
ended, the rootfs unmounted, a ``--rm`` container's directory removed) and records what it
reports here, with the ``die`` (and ``destroy``) events. Doing it twice is harmless.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from pathlib import Path

from lamina.store import ContainerRecord, Store
from lamina.store.events import container_actor, record_quietly

# What the monitor runs at its end to record the exit (argv after the interpreter).
RECORDER = ("-m", "lamina.engine.exits")


def sync(store: Store, record: ContainerRecord, *, monitor_done: bool = False,
         note: tuple[int, float] | None = None) -> ContainerRecord | None:
    """The record, brought up to date; None when the container is gone (``--rm``).

    ``monitor_done``: the caller knows the monitor has finished (it is its successor, or
    heard its exit), so the lock is not consulted.
    """
    from lamina.runtime.state import monitor_alive, settle

    if record.state != "running" and not monitor_done:
        return record
    if not monitor_done and monitor_alive(store, record.id):
        return record
    ended = settle(store, record, note=note)
    code = str(ended.exit_code)
    from lamina.runtime.restarts import read_state

    restarts = read_state(store.containers_dir / record.id).get("RestartCount")
    if restarts and not ended.removed:  # (--restart: the monitor counted them)
        store.containers.update(record.id, restart_count=int(restarts))
    if ended.removed:
        if store.containers.delete(record.id):  # once, though two may get here
            if record.config.get("MountPoints"):  # --rm takes its anonymous volumes along
                from lamina.engine.volumes import remove_anonymous

                remove_anonymous(store, record)
            record_quietly(store.events, "container", "die",
                           container_actor(record, exitCode=code))
            record_quietly(store.events, "container", "destroy", container_actor(record))
        return None
    with store.transaction():  # whoever records the exit first records the die, once
        current = store.containers.get(record.id)
        if current is not None and current.state == "running":
            record_quietly(store.events, "container", "die",
                           container_actor(record, exitCode=code))
        if ended.error:
            store.containers.update(record.id, state="exited", exit_code=ended.exit_code,
                                    pid=None, monitor_pid=None, finished=ended.finished,
                                    error=ended.error)
        else:
            store.containers.update(record.id, state="exited", exit_code=ended.exit_code,
                                    pid=None, monitor_pid=None, finished=ended.finished)
    return store.containers.get(record.id)


def record_events(store: Store, container_id: str, events: str) -> None:
    """What a monitor saw happen (a restart's die and start, a health status change), each
    with the time (ns) it happened, as JSON ``[[action, attributes, time], ...]``."""
    import json

    from lamina.errors import StorageError

    record = store.containers.get(container_id)
    if record is None:
        return
    for action, attributes, when in json.loads(events):
        with suppress(StorageError):
            store.events.append("container", str(action),
                                container_actor(record, **attributes), time_nano=int(when))


def main(argv: list[str]) -> int:
    """The monitor's successor: record the exit, then let go of the lock (by exiting). With
    ``--events``, a running monitor's events (``record_events``)."""
    from lamina.runtime.state import read_exit

    if len(argv) == 4 and argv[2] == "--events":
        with Store(Path(argv[0])) as store:
            record_events(store, argv[1], argv[3])
        return 0
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
