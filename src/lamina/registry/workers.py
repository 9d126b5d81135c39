"""Several worker processes on one listening socket, forked from a parent that imported once.

uvicorn's own supervisor spawns fresh interpreters, each of which imports everything again:
on two cores that takes well over a second before the first request is answered. Here the
parent binds the socket and imports the server's modules, then forks; each child builds its own
app (its own database connections, nothing shared but the socket) and serves at once.

The parent forwards SIGTERM and SIGINT to the children, which finish their requests in flight
and exit; it restarts a child that dies on its own, and gives up (exit 1) if children keep
dying right after they start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
import types
from collections.abc import Callable

log = logging.getLogger(__name__)

_QUICK_DEATH_SECONDS = 2.0
_QUICK_DEATHS_ALLOWED = 5


class Supervisor:
    """Runs ``child(sock, slot)`` in ``count`` forked processes until told to stop; ``slot``
    numbers the workers 0..count-1, and a restarted worker gets the slot of the one it
    replaces."""

    def __init__(
        self, sock: socket.socket, count: int, child: Callable[[socket.socket, int], None]
    ) -> None:
        self.sock = sock
        self.count = count
        self.child = child
        self.children: dict[int, tuple[float, int]] = {}  # pid -> (start time, slot)
        self.stopping = False
        self.quick_deaths = 0

    def _spawn(self, slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                # The parent's handlers (stop, forward) mean nothing in a child: uvicorn
                # installs its own while it serves; before and after that, a signal ends it.
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                self.child(self.sock, slot)
                status = 0
            except BaseException:
                log.exception("registry worker %d failed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(status)
        self.children[pid] = (time.monotonic(), slot)

    def _stop(self, signum: int, frame: types.FrameType | None) -> None:
        self.stopping = True
        # Once the children close theirs too, new connections are refused at once instead of
        # waiting in a backlog that nobody will accept from.
        self.sock.close()
        for pid in list(self.children):
            # A child that already exited is reaped by run(); nothing to tell it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        """Serve until a signal; the exit status for the parent."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        for slot in range(self.count):
            self._spawn(slot)
        status = 0
        while self.children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            child = self.children.pop(pid, None)
            if child is None or self.stopping:
                continue
            started, slot = child
            code = os.waitstatus_to_exitcode(wait_status)
            log.error("registry worker %d exited with %d; starting another", pid, code)
            if time.monotonic() - started < _QUICK_DEATH_SECONDS:
                self.quick_deaths += 1
                if self.quick_deaths >= _QUICK_DEATHS_ALLOWED:
                    log.error("registry workers keep dying at start; stopping")
                    self._stop(signal.SIGTERM, None)
                    status = 1
                    continue
                time.sleep(0.5)
            self._spawn(slot)
        self.sock.close()
        return status
