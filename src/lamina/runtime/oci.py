"""The OCI runtime binary (runc or crun): finding it, and the few calls lamina makes of it.

Each call is one short process; lamina keeps the runtime's state in a directory of its own
(``--root``) so it never sees or touches containers of docker or podman. The runtime's own
messages go to a log file (``--log``, JSON lines) rather than to the container's stderr, so
that an error of the runtime is never mistaken for output of the container.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from lamina.errors import ContainerError

RUNTIMES = ("runc", "crun")
INSTALL_HINT = "install one: apt-get install runc (or crun), dnf install runc, apk add runc"
# Beside a started container's bundle: which runtime, with which state root, runs it. Every
# later call (stop, kill, exec, the clean-up of an orphan) uses that one, whatever the
# settings of the command making it.
RUNTIME_FILE = "runtime.json"


def find_runtime(name: str | None = None) -> str:
    """The path of the runtime ``name`` (a name on PATH or a path), else of runc or crun."""
    if name:
        found = shutil.which(name)
        if found is None:
            raise ContainerError(f"OCI runtime {name!r} not found", hint=INSTALL_HINT)
        return found
    for candidate in RUNTIMES:
        found = shutil.which(candidate)
        if found is not None:
            return found
    raise ContainerError("no OCI runtime found on PATH (runc or crun)", hint=INSTALL_HINT)


class Runtime:
    """One OCI runtime binary, with its state directory (``state_root``/<runtime's name>:
    the settings' state root, tmpfs, cleared at boot like the containers' processes)."""

    def __init__(self, binary: str | None, state_root: Path) -> None:
        self.binary = find_runtime(binary)
        self.name = Path(self.binary).name
        self.root = Path(state_root)
        self.state_root = self.root / self.name
        self.state_root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def remember(self, directory: Path) -> None:
        """Note in a container's directory that this runtime runs it (``of`` reads it)."""
        (directory / RUNTIME_FILE).write_text(
            json.dumps({"binary": self.binary, "state_root": str(self.root)}))

    @classmethod
    def of(cls, directory: Path) -> Runtime | None:
        """The runtime noted in a container's directory; None if none is (never started)."""
        try:
            data = json.loads((directory / RUNTIME_FILE).read_text())
            return cls(str(data["binary"]), Path(data["state_root"]))
        except (OSError, ValueError, KeyError, TypeError, ContainerError):
            return None

    def command(self, *args: str, log: Path | None = None) -> list[str]:
        argv = [self.binary, "--root", str(self.state_root)]
        if log is not None:
            argv += ["--log", str(log), "--log-format", "json"]
        return [*argv, *args]

    def call(self, *args: str, log: Path | None = None, check: bool = True,
             timeout: float | None = 60, input: bytes | None = None
             ) -> subprocess.CompletedProcess[bytes]:
        """One call; ``input``: what its stdin reads (else nothing)."""
        if input is None:
            result = subprocess.run(self.command(*args, log=log), stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=timeout, check=False)
        else:
            result = subprocess.run(self.command(*args, log=log), input=input,
                                    capture_output=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            message = last_error(log) or result.stderr.decode(errors="replace").strip()
            raise ContainerError(f"{self.name} {args[0]}: {message or 'failed'}")
        return result

    def mount_options(self) -> frozenset[str] | None:
        """The mount options this runtime knows (its ``features``), None when it cannot say.
        Asked once per binary: the answer is kept in the state directory."""
        try:
            st = os.stat(self.binary)
        except OSError:
            return None
        cache = self.state_root / f".features-{st.st_size}-{st.st_mtime_ns}.json"
        try:
            return frozenset(json.loads(cache.read_text()))
        except (OSError, ValueError, TypeError):
            pass
        try:
            result = self.call("features", check=False, timeout=10)
            options = json.loads(result.stdout).get("mountOptions")
        except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
            options = None
        if not isinstance(options, list):
            return None
        with suppress(OSError):
            cache.write_text(json.dumps(options))
        return frozenset(str(o) for o in options)

    def state(self, container_id: str) -> dict[str, object] | None:
        """The runtime's view of a container, or None if it does not know it."""
        result = self.call("state", container_id, check=False)
        if result.returncode != 0:
            return None
        data = json.loads(result.stdout)
        return data if isinstance(data, dict) else None

    def kill(self, container_id: str, signal: str | int, *, all: bool = False) -> bool:
        args = ["kill", *(["--all"] if all else []), container_id, str(signal)]
        return self.call(*args, check=False).returncode == 0

    def delete(self, container_id: str, *, force: bool = False) -> None:
        args = ["delete", *(["--force"] if force else []), container_id]
        self.call(*args, check=False)

    def pause(self, container_id: str) -> None:
        self.call("pause", container_id)

    def resume(self, container_id: str) -> None:
        self.call("resume", container_id)

    def ps(self, container_id: str, ps_args: Sequence[str]) -> str:
        """``ps PS_ARGS`` run on the host, only the container's processes kept."""
        return self.call("ps", container_id, *ps_args).stdout.decode(errors="replace")


def last_error(log: Path | None) -> str | None:
    """The last error the runtime wrote to its JSON log, without runtime-internal prefixes."""
    if log is None:
        return None
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", "")).strip() or None
    return None


def exec_failure_code(message: str) -> int | None:
    """docker's exit code for a process the runtime could not start: 127 not found, 126 not
    executable, None when the message is about something else."""
    text = message.lower()
    if "exec" not in text.replace("executable", ""):
        return None  # a mount, a cgroup, a namespace: the runtime's own failure
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "exec format error" in text or "is a directory" in text:
        return 126
    return None


def signal_number(value: str | int) -> int:
    """A signal given as a number, ``KILL`` or ``SIGKILL`` (as docker's --signal takes it)."""
    import signal as _signal

    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(getattr(_signal.Signals, text))
    except AttributeError:
        raise ContainerError(f"Invalid signal: {value}", exit_code=1) from None


def run_args(runtime: Runtime, bundle: Path, container_id: str, *, detach: bool,
             pid_file: Path | None = None, console_socket: Path | None = None,
             log: Path | None = None) -> Sequence[str]:
    args = ["run", "--bundle", str(bundle)]
    if detach:
        args.append("--detach")
    if pid_file is not None:
        args += ["--pid-file", str(pid_file)]
    if console_socket is not None:
        args += ["--console-socket", str(console_socket)]
    return runtime.command(*args, container_id, log=log)
