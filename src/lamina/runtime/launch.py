"""Launching a container under a new monitor (``lamina.runtime.monitor``), from the command
that starts it: the rootfs and bundle are prepared here, so bad input fails in the caller with
nothing left behind; then the monitor is double-forked into a session of its own, and the
caller gets the container's pid, and its output and tty when it attaches.
"""

from __future__ import annotations

import gc
import json
import os
import socket
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, NamedTuple

from lamina.errors import ContainerError
from lamina.runtime.bundle import ContainerDir, prepare
from lamina.runtime.monitor import Monitor
from lamina.runtime.mounts import unmount
from lamina.runtime.oci import Runtime
from lamina.store import ContainerRecord, Store


class Attach(NamedTuple):
    """What the launching command attaches: its stdin fd (-i), and whether to stream output."""

    stdin: int | None = None
    output: bool = False


class Started:
    """A container that runs: its init's host pid, its monitor, and the attached ends."""

    __slots__ = ("channel", "detached", "master", "monitor", "pid", "restarting", "stderr",
                 "stdout")

    def __init__(self, pid: int, monitor: int, channel: socket.socket | None = None) -> None:
        self.pid = pid
        self.monitor = monitor
        self.channel: socket.socket | None = channel
        self.stdout: int | None = None  # read ends of the output the monitor forwards
        self.stderr: int | None = None
        self.master: int | None = None  # the tty, for the launcher's stdin and window size
        self.restarting = False  # it ended and its restart policy runs it again (--restart)
        self.detached = False  # the user typed the detach keys: it runs on, unattended

    def acknowledge(self, *, keep: bool) -> None:
        """Tell the monitor the running state is recorded; without ``keep``, let it go."""
        if self.channel is None:
            return
        with suppress(OSError):
            self.channel.send(b'{"ack": true}')
        if not keep:
            self.channel.close()
            self.channel = None

    def close(self) -> None:
        for fd in (self.stdout, self.stderr, self.master):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)
        if self.channel is not None:
            self.channel.close()


def launch(store: Store, record: ContainerRecord, runtime: Runtime, *,
           attach: Attach | None = None, recorder: Sequence[str]) -> Started:
    """Start a created (or stopped) container under a new monitor; see the module docstring.

    ``recorder``: what the monitor runs at its end (after the interpreter: ``-m module``) with
    the store root, the container's ID and the lock's fd, to record the exit; the runtime
    itself never writes to the store's database."""
    cdir = ContainerDir.of(store, record.id)
    prepare(store, cdir, record, runtime)
    runtime.remember(cdir.path)
    tty = bool(record.config.get("Config", {}).get("Tty"))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    forward: list[tuple[int, int]] = []
    if attach is not None and attach.output:
        forward = [os.pipe(), os.pipe()]
    # The monitor never uses the store's database: an SQLite connection must not cross a fork
    # (its lock bookkeeping would be wrong in the child). It closes the inherited descriptors
    # and leaves the recording to fresh processes (the ``recorder``).
    try:
        pid = os.fork()
    except OSError:
        from lamina.runtime.bundle import release_network

        release_network(cdir)
        unmount(cdir.rootfs)
        raise
    if pid == 0:  # pragma: no cover - the child never returns into the caller's stack
        # No collection in the child: finalising a copied object (an SQLite connection of the
        # caller) would act on descriptors that are closed, or reused for something else.
        gc.disable()
        code = 1
        try:
            keep = {0, 1, 2, theirs.fileno(), *(w for _, w in forward)}
            if attach is not None and attach.stdin is not None:
                keep.add(attach.stdin)
            _close_inherited(keep)
            os.setsid()
            if os.fork() == 0:
                code = Monitor(store.root, record, cdir, runtime, theirs,
                               [w for _, w in forward], attach, tty, recorder).run()
            else:
                code = 0
        finally:
            os._exit(code)
    theirs.close()
    for _, w in forward:
        os.close(w)
    if attach is not None:
        # runc takes ~20 ms to set the container up, mostly in the kernel: load what the
        # attached command needs next meanwhile, rather than after the container started.
        import lamina.runtime.attach
        import lamina.runtime.state  # noqa: F401
    message, fds = receive(ours)
    os.waitpid(pid, 0)  # long gone by now: reaped after the wait for the monitor, not before
    if "pid" not in message:
        ours.close()
        for r, _ in forward:
            os.close(r)
        if "error" in message:
            raise ContainerError(str(message["error"]),
                                 exit_code=int(message.get("code", 125)))
        raise ContainerError("the container's monitor ended before the container started")
    started = Started(int(message["pid"]), int(message.get("monitor", 0)), ours)
    if forward:
        started.stdout, started.stderr = forward[0][0], forward[1][0]
    started.master = fds[0] if fds else None
    return started


def receive(channel: socket.socket, timeout: float | None = None) -> tuple[dict[str, Any], list[int]]:
    """One message from the monitor ({} when it is gone)."""
    channel.settimeout(timeout)
    try:
        data, fds, _, _ = socket.recv_fds(channel, 4096, 1)
    except (ConnectionResetError, TimeoutError):
        return {}, []
    if not data:
        return {}, list(fds)
    return json.loads(data), list(fds)


def _close_inherited(keep: set[int]) -> None:
    """Close every fd the child inherited but ``keep``: the caller's store lease (a shared
    flock that would keep gc waiting for as long as the container runs), its files, sockets."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with suppress(OSError):
                os.close(fd)
