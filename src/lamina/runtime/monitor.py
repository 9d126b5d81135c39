"""The monitor: lamina's small process beside each running container (conmon's role).

``lamina.runtime.launch`` mounts the rootfs and writes the bundle in the calling process (so
bad input fails there, with nothing left behind), then double-forks the monitor into a session
of its own. The monitor holds ``monitor.lock`` for as long as the container runs, starts the
container with ``runc run`` (in the foreground; with a tty, ``--detach`` and a console socket,
the init then re-parented to the monitor, its subreaper), and copies the container's stdout
and stderr into the json-file log, and to the attached command when there is one. When the
container ends, it has the runtime's state deleted, unmounts the rootfs, for ``--rm`` removes
the container's directory, and writes the exit code and finish time into ``monitor.lock``.
The lamina command that launched it can exit at any time; no daemon stays behind.

The monitor never opens the store's database: it is a fork of the launching command, and an
SQLite connection (or SQLite's per-process lock bookkeeping) must not cross a fork. The
launcher records the running state; the exit is recorded by the attached launcher, or else by
a fresh process the monitor becomes at its end (the ``recorder`` command the launcher gives
it: the engine's), which holds the lock until the record is current. Any command that finds a "running" record with no monitor
brings it up to date the same way.

Messages travel over a SOCK_SEQPACKET pair, one JSON object each: monitor to launcher
``{"pid": N, "monitor": M}`` once the container runs (a tty's master fd rides along),
``{"error": msg, "code": N}`` if it could not start, ``{"exit": N}`` when it ended (to an
attached launcher); launcher to monitor ``{"ack": true}`` once the running state is recorded.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import ContainerError
from lamina.runtime.attach_point import (
    RESIZE,
    STDIN,
    AttachPoint,
    apply_resize,
    resize_message,
)
from lamina.runtime.bundle import ContainerDir
from lamina.runtime.logs import LogWriter
from lamina.runtime.mounts import libc, unmount
from lamina.runtime.oci import Runtime, exec_failure_code, last_error, run_args
from lamina.runtime.restarts import RestartState
from lamina.store import ContainerRecord

if TYPE_CHECKING:
    from lamina.runtime.launch import Attach

PR_SET_CHILD_SUBREAPER = 36
CHUNK = 1 << 16
# After the init exits, how long its output may keep trickling in (from descendants that
# escaped the pid namespace's teardown through an inherited pipe) before we stop reading.
DRAIN_GRACE = 2.0


class Monitor:
    def __init__(self, root: Path, record: ContainerRecord, cdir: ContainerDir,
                 runtime: Runtime, channel: socket.socket, forward: list[int],
                 attach: Attach | None, tty: bool, recorder: Sequence[str]) -> None:
        self.root = root
        self.recorder = list(recorder)
        self.record = record
        self.cdir = cdir
        self.runtime = runtime
        self.channel: socket.socket | None = channel
        self.acknowledged = False
        self.forward = forward
        self.attach = attach
        self.tty = tty
        self.autoremove = bool(record.config.get("HostConfig", {}).get("AutoRemove"))
        self.lock = -1
        self.recorders: list[subprocess.Popen[bytes]] = []  # event recorders to reap
        self.recording = threading.Lock()  # (the health checks' thread records events too)
        # `lamina attach` (lamina.runtime.attach_point): where it connects, and where what
        # it types goes (the tty, or the stdin of a container made with -i)
        self.attach_point: AttachPoint | None = None
        self.input_fd: int | None = None

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> bool:
        if self.channel is None:
            return False
        try:
            socket.send_fds(self.channel, [json.dumps(message).encode()], fds or [])
            return True
        except OSError:
            self._drop_channel()  # the launcher is gone; carry on for the log and the record
            return False

    def _drop_channel(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def _hear(self, timeout: float | None) -> None:
        """Read the launcher's acknowledgement (or learn that it is gone)."""
        if self.channel is None:
            return
        self.channel.settimeout(timeout)
        try:
            data = self.channel.recv(4096)
        except TimeoutError:
            return
        except OSError:
            data = b""
        if data:
            self.acknowledged = True
            if self.attach is None:
                self._drop_channel()  # detached: nothing more to say to each other
        else:
            self._drop_channel()

    def run(self) -> int:
        try:
            self._run()
        except BaseException as exc:  # the launcher must hear of any failure, then clean up
            import traceback

            with suppress(OSError):  # kept for whoever investigates
                (self.cdir.path / "monitor.log").write_text(traceback.format_exc())
            self.send({"error": f"container monitor failed: {exc}", "code": 125})
            with suppress(OSError, ContainerError, subprocess.SubprocessError):
                self._cleanup()
            return 1
        return 0

    def _run(self) -> None:
        stdin = self._detach_stdio()
        self.lock = os.open(self.cdir.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        os.ftruncate(self.lock, 0)
        # (for a service manager that watches the monitor: lamina generate systemd's PIDFile)
        self.cdir.path.joinpath("monitor.pid").write_text(f"{os.getpid()}\n")
        libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        restarts = RestartState(self.cdir.path, self.record.config.get("HostConfig", {}))
        code = self._run_once(stdin, first=True, restarts=restarts)
        if code is None:
            return  # it never started: the launcher heard why
        while restarts.wanted(code):
            # --restart: the same bundle and rootfs again, after docker's growing delay; a
            # stop (``stopping`` marker) during the delay ends it.
            self._event("die", exitCode=str(code))
            if not restarts.wait():
                break
            again = self._run_once(None, first=False, restarts=restarts)
            if again is None:
                break
            code = again
        restarts.done()
        with self.recording:
            self._await_recorders()
        self._cleanup()
        if self.autoremove:
            self.cdir.remove()  # its record goes with the recording below
        os.pwrite(self.lock, f"{code} {time.time():.6f}".encode(), 0)
        if not self.acknowledged:
            self._hear(30.0)  # the running state must be on record before the exit is
        if self.attach is not None and self.acknowledged and not restarts.count and \
                self.send({"exit": code}):
            return  # the attached launcher records the exit
        self._become_recorder()

    def _run_once(self, stdin: int | None, *, first: bool, restarts: RestartState) -> int | None:
        """Run the container once, to its end; its exit code, or None when it did not start
        (the first time, the launcher is told why)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        keep_open = -1
        if stdin is None and self.record.config.get("Config", {}).get("OpenStdin"):
            # Detached -i: the container's stdin stays open (and empty), as docker keeps it.
            stdin, keep_open = os.pipe()
        console = self._console_socket() if self.tty else None
        self.cdir.pid_file.unlink(missing_ok=True)
        self.cdir.runtime_log.unlink(missing_ok=True)
        # Without a tty, runc runs in the foreground: it waits for the container, reaps it and
        # deletes its own state, which saves a `runc delete`. A tty needs the console socket,
        # which runc takes only when it detaches; the init is then re-parented to us.
        foreground = console is None
        argv = run_args(self.runtime, Path("."), self.record.id, detach=not foreground,
                        pid_file=self.cdir.pid_file, log=self.cdir.runtime_log,
                        console_socket=Path("console.sock") if console else None)
        proc = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                stdout=out_w, stderr=err_w, cwd=self.cdir.path)
        for fd in (out_w, err_w, *([stdin] if stdin is not None else [])):
            os.close(fd)
        master = self._receive_master(console, proc) if console is not None else None
        size = self.record.config.get("HostConfig", {}).get("ConsoleSize") or [0, 0]
        if master is not None and size[0] and size[1]:
            # the client's window size (the API's ConsoleSize), set before the program
            # looks, rather than by a resize that comes after it has started
            apply_resize(master, resize_message(size[0], size[1])[len(RESIZE):])
        if foreground:
            pid = self._await_pid(proc)
        else:
            pid = self._read_pid() if proc.wait() == 0 else None
        if pid is None:
            rc = proc.wait()
            message = last_error(self.cdir.runtime_log) or _read_nonblocking(err_r) or \
                f"{self.runtime.name} exited with status {rc}"
            message = message.removeprefix("runc run failed: ").removeprefix("runc create failed: ")
            for fd in (out_r, err_r, keep_open):
                if fd >= 0:
                    os.close(fd)
            if first:
                self._cleanup()
                # The launcher records the failure (and removes a --rm container).
                self.send({"error": message, "code": exec_failure_code(message) or 125})
            return None
        if first:
            self.send({"pid": pid, "monitor": os.getpid()},
                      [master] if master is not None and self.attach else None)
        restarts.running(pid)
        if not first:
            self._event("start")
        health = None
        if self.record.config.get("Config", {}).get("Healthcheck"):
            from lamina.runtime.health import HealthChecker

            # A check that races the container's end leaves the runtime's half-made exec
            # processes to us, the subreaper: reaped after each check, or the kernel, which
            # waits for every process of the container's pid namespace, never lets the
            # container end.
            keep = {proc.pid, pid}
            health = HealthChecker.start_for(
                self.cdir, self.record, self.runtime,
                lambda status: self._event(f"health_status: {status}"),
                lambda: reap_strays(keep | {r.pid for r in self.recorders}), init_pid=pid)
        sources = {master: "stdout"} if master is not None else {out_r: "stdout", err_r: "stderr"}
        if master is not None:
            os.close(out_r)
            os.close(err_r)
        self.input_fd = master if master is not None else (keep_open if keep_open >= 0 else None)
        with suppress(OSError):
            self.attach_point = AttachPoint(self.cdir.path)
        try:
            code = self._pump(pid, sources, proc if foreground else None)
        finally:
            if health is not None:
                health.stop()
        if self.attach_point is not None:
            self.attach_point.close(code)
        if keep_open >= 0:
            os.close(keep_open)
        if self.attach is not None and first and restarts.wanted(code):
            # An attached run returns at the first exit, as docker's; the restarts go on.
            if not self.acknowledged:
                self._hear(30.0)
            self.send({"exit": code, "restarting": True})
            self._drop_channel()
        if (self.runtime.state_root / self.record.id).exists():
            self.runtime.delete(self.record.id, force=True)  # (a foreground runc deleted it)
        return code

    def _event(self, action: str, **attributes: str) -> None:
        """An event for ``lamina events``, recorded by a fresh process (see
        ``_record_events``), once the one before it is recorded: the
        events table keeps them in the order they are written."""
        when = time.time_ns()
        with self.recording:
            self._await_recorders()
            recorder = self._record_events([(action, attributes, when)])
            if recorder is not None:
                self.recorders.append(recorder)

    def _record_events(self, events: list[tuple[str, dict[str, str], int]]
                       ) -> subprocess.Popen[bytes] | None:
        """The recorder command (see ``_become_recorder``) with ``--events``, in a process
        of its own; the caller reaps it."""
        import sys

        try:
            return subprocess.Popen(
                [sys.executable, *self.recorder, str(self.root), self.record.id, "--events",
                 json.dumps(events)], env=self._recorder_env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return None  # events are a record, not the container's business

    @staticmethod
    def _recorder_env() -> dict[str, str]:
        import lamina

        env = dict(os.environ)
        src = str(Path(lamina.__file__).resolve().parents[1])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env

    def _await_recorders(self) -> None:
        """The events so far are on record (before the exit, which comes after them)."""
        for recorder in self.recorders:
            with suppress(subprocess.TimeoutExpired):
                recorder.wait(timeout=10)
        self.recorders = []

    def _become_recorder(self) -> None:
        """Replace this process by a fresh interpreter that records the exit in the store,
        holding the lock (inherited) until it has."""
        import sys

        import lamina

        os.set_inheritable(self.lock, True)
        env = dict(os.environ)
        src = str(Path(lamina.__file__).resolve().parents[1])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        os.execve(sys.executable, [sys.executable, *self.recorder, str(self.root),
                                   self.record.id, str(self.lock)], env)

    def _detach_stdio(self) -> int | None:
        """Leave the launcher's terminal: our 0, 1, 2 become /dev/null; -i's stdin is kept.

        (Signals keep their dispositions: an ignored one would be inherited by the runtime
        and the container. In a session of our own, no terminal sends us any.)"""
        stdin = None
        if self.attach is not None and self.attach.stdin is not None:
            stdin = os.dup(self.attach.stdin)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        return stdin

    def _console_socket(self) -> socket.socket:
        os.chdir(self.cdir.path)  # the socket path must fit in 108 bytes: make it relative
        Path("console.sock").unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind("console.sock")
        sock.listen(1)
        return sock

    def _receive_master(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> int | None:
        sock.settimeout(0.05)
        try:
            while True:
                try:
                    conn, _ = sock.accept()
                    break
                except TimeoutError:
                    if proc.poll() is not None:
                        return None
            with conn:
                conn.settimeout(10)
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            return fds[0] if fds else None
        finally:
            sock.close()
            Path(self.cdir.path, "console.sock").unlink(missing_ok=True)

    def _read_pid(self) -> int | None:
        try:
            return int(self.cdir.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _await_pid(self, proc: subprocess.Popen[bytes]) -> int | None:
        """The init's pid once runc has started it (runc writes the pid file after the exec),
        or None when runc ended without starting it.

        Waiting is on runc's pidfd, so a container quick to end wakes us at once; between
        looks at the pid file we sleep there rather than spin, which would take CPU from
        runc while it sets the container up (runc takes ~20 ms; the looks grow to 4 ms)."""
        import select

        pidfd = os.pidfd_open(proc.pid)
        try:
            delay = 0.0005
            while True:
                pid = self._read_pid()
                if pid is not None:
                    return pid
                if select.select([pidfd], [], [], delay)[0]:
                    proc.wait()
                    return self._read_pid()  # a container quick to end still left its pid
                delay = min(delay * 2, 0.004)
        finally:
            os.close(pidfd)

    def _pump(self, pid: int, sources: dict[int, str],
              runtime: subprocess.Popen[bytes] | None) -> int:
        """Copy output until the container has ended and its output too; its exit code.

        ``runtime``: the foreground runc, whose status is the container's; else the init is
        our child (we are its subreaper) and is reaped here."""
        log = LogWriter.of(self.cdir.log, self.record.config.get("HostConfig", {}).get("LogConfig"))
        outputs = {"stdout": self.forward[0], "stderr": self.forward[1]} if self.forward else {}
        selector = selectors.DefaultSelector()
        for fd, name in sources.items():
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ, name)
        code: int | None = None
        deadline: float | None = None
        pidfd = -1
        if runtime is not None and runtime.returncode is not None:
            code = _code(runtime.returncode)
            deadline = time.monotonic() + DRAIN_GRACE
        else:
            pidfd = os.pidfd_open(runtime.pid if runtime is not None else pid)
            selector.register(pidfd, selectors.EVENT_READ, "exit")
        if self.channel is not None:
            selector.register(self.channel.fileno(), selectors.EVENT_READ, "channel")
        if self.attach_point is not None:
            selector.register(self.attach_point.fileno(), selectors.EVENT_READ, "attach")

            def forget(conn: socket.socket) -> None:
                with suppress(KeyError, ValueError):
                    selector.unregister(conn)

            self.attach_point.forget = forget
        while sources or code is None:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = selector.select(timeout)
            if deadline is not None and not events and time.monotonic() >= deadline:
                break
            for key, _ in events:
                fd = int(key.fd)
                if key.data == "channel":
                    self._hear(0)
                    if self.channel is None or (self.acknowledged and self.attach is None):
                        selector.unregister(fd)
                    continue
                if key.data in ("attach", "attached"):
                    self._attached(selector, key)
                    continue
                if key.data == "exit":
                    selector.unregister(fd)
                    code = _code(runtime.wait()) if runtime is not None else \
                        _code(os.waitstatus_to_exitcode(_reap(pid)))
                    deadline = time.monotonic() + DRAIN_GRACE
                    continue
                try:
                    data = os.read(fd, CHUNK)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno != errno.EIO:  # EIO: the tty's last user closed it
                        raise
                    data = b""
                if not data:
                    selector.unregister(fd)
                    os.close(fd)
                    sources.pop(fd)
                    log.flush(key.data)
                    continue
                log.write(key.data, data)
                self._forward(outputs, key.data, data)
                if self.attach_point is not None and self.attach_point.clients:
                    self.attach_point.broadcast(key.data, data)
        for fd in sources:
            os.close(fd)
        log.close()
        for fd in self.forward:
            with suppress(OSError):
                os.close(fd)
        self.forward = []
        selector.close()
        if pidfd >= 0:
            os.close(pidfd)
        if code is None:
            code = _code(runtime.wait()) if runtime is not None else \
                _code(os.waitstatus_to_exitcode(_reap(pid)))
        return code

    def _attached(self, selector: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
        """A command attaching, or a message of one attached (lamina.runtime.attach_point)."""
        point = self.attach_point
        assert point is not None
        if key.data == "attach":
            new = point.accept()
            if new is not None:
                selector.register(new, selectors.EVENT_READ, "attached")
            return
        conn = key.fileobj
        assert isinstance(conn, socket.socket)
        message = point.receive(conn)  # (one that left is let go, and forgotten)
        if message is None:
            return
        kind, data = message
        if kind == STDIN and self.input_fd is not None and data:
            with suppress(OSError):
                while data:
                    data = data[os.write(self.input_fd, data):]
        elif kind == RESIZE and self.tty and self.input_fd is not None:
            apply_resize(self.input_fd, data)

    def _forward(self, outputs: dict[str, int], stream: str, data: bytes) -> None:
        fd = outputs.get(stream)
        if fd is None:
            return
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError:
            outputs.pop(stream)  # the attached command went away; the log goes on

    def _cleanup(self) -> None:
        if (self.runtime.state_root / self.record.id).exists():
            self.runtime.delete(self.record.id, force=True)  # a foreground runc deleted it
        from lamina.runtime.bundle import release_network

        release_network(self.cdir)
        unmount(self.cdir.rootfs)


def reap_strays(keep: set[int]) -> None:
    """Reap our children that have ended, but those in ``keep`` (whose status their owners
    collect): orphans the runtime's processes left us, as the subreaper."""
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in keep:
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[0] == b"Z" and int(fields[1]) == me:
            with suppress(ChildProcessError):
                os.waitpid(int(entry.name), os.WNOHANG)


def _code(returncode: int) -> int:
    """docker's exit code: the status, or 128 + the signal that ended it."""
    return 128 - returncode if returncode < 0 else returncode


def _reap(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            return 255 << 8  # reaped elsewhere: its status is lost
        except InterruptedError:
            continue


def _read_nonblocking(fd: int) -> str:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, CHUNK).decode(errors="replace").strip()
    except BlockingIOError:
        return ""

