"""``exec -it``: a process on a terminal of its own, relayed here, with docker's detach keys.

The runtime starts the process detached and hands over the terminal's master through a
console socket; this process, a child subreaper meanwhile, becomes its parent and so learns
its exit code. Keys typed go to the terminal, but the detach sequence (Ctrl-P Ctrl-Q unless
``--detach-keys`` says otherwise): then the command returns 0 and the process runs on, a
small child of this command keeping its terminal open (and its output read, as docker drops
a detached exec's output too) until it ends.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from lamina.runtime.oci import Runtime

PR_SET_CHILD_SUBREAPER = 36


def exec_tty(runtime: Runtime, container_id: str, process_file: str, log: Path, *,
             stdin: int | None, stdout: BinaryIO, detach_keys: bytes) -> int:
    """Run the process; its exit code, 0 when detached, or the runtime's own status when it
    could not start it (its log says why)."""
    from lamina.runtime.mounts import libc

    where = Path(tempfile.mkdtemp(prefix="lamina-exec-"))  # short: a socket's path must be
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        listener.bind(str(where / "console"))
        listener.listen(1)
        listener.settimeout(0.05)
        proc = subprocess.Popen(
            runtime.command("exec", "--tty", "--detach", "--console-socket",
                            str(where / "console"), "--pid-file", str(where / "pid"),
                            "--process", process_file, container_id, log=log),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        master = None
        while master is None and proc.poll() is None:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(10)
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            master = fds[0] if fds else None
        rc = proc.wait()
        if rc != 0 or master is None:
            if master is not None:
                os.close(master)
            return rc if rc != 0 else 255
        pid = int((where / "pid").read_text().strip())
        return _relay(master, pid, stdin, stdout, detach_keys)
    finally:
        listener.close()
        shutil.rmtree(where, ignore_errors=True)
        libc().prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _relay(master: int, pid: int, stdin: int | None, stdout: BinaryIO,
           detach_keys: bytes) -> int:
    from lamina.runtime.attach import _copy_window_size, _raw
    from lamina.runtime.detach import Matcher

    matcher = Matcher(detach_keys)
    selector = selectors.DefaultSelector()
    selector.register(master, selectors.EVENT_READ, "output")
    pidfd = os.pidfd_open(pid)
    selector.register(pidfd, selectors.EVENT_READ, "exit")
    if stdin is not None:
        os.set_blocking(stdin, False)
        selector.register(stdin, selectors.EVENT_READ, "input")
    _copy_window_size(master)
    previous = signal.signal(signal.SIGWINCH, lambda s, f: _copy_window_size(master))
    code: int | None = None
    try:
        with _raw(stdin):
            while True:
                events = selector.select(0.2 if code is not None else None)
                if not events and code is not None:
                    break  # ended, and its output is all read
                for key, _ in events:
                    if key.data == "exit":
                        selector.unregister(pidfd)
                        code = _reap(pid)
                    elif key.data == "input":
                        try:
                            typed = os.read(int(key.fd), 1 << 16)
                        except BlockingIOError:
                            continue
                        if not typed:
                            selector.unregister(int(key.fd))
                            continue
                        passed = matcher.feed(typed)
                        with suppress(OSError):
                            while passed:
                                passed = passed[os.write(master, passed):]
                        if matcher.detached:
                            _keep_open(master, pidfd)
                            return 0
                    else:
                        try:
                            data = os.read(master, 1 << 16)
                        except OSError:  # EIO: the terminal's last user closed it
                            data = b""
                        if not data:
                            selector.unregister(master)
                            if code is None:
                                continue
                            return code
                        stdout.write(data)
                        stdout.flush()
    finally:
        signal.signal(signal.SIGWINCH, previous)
        selector.close()
        os.close(pidfd)
        with suppress(OSError):
            os.close(master)
    return code if code is not None else 0


def _reap(pid: int) -> int:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 255  # not ours after all: its status is lost
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _keep_open(master: int, pidfd: int) -> None:
    """Detached: a child of ours holds the terminal, reading what the process writes, until
    it ends."""
    if os.fork() != 0:
        return
    try:  # pragma: no cover - the child
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        selector = selectors.DefaultSelector()
        selector.register(master, selectors.EVENT_READ)
        selector.register(pidfd, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fd == pidfd:
                    os._exit(0)
                try:
                    if not os.read(master, 1 << 16):
                        os._exit(0)
                except OSError:
                    os._exit(0)
    finally:
        os._exit(0)
