"""``exec``: another process in a running container, through ``runc exec --process``.

The process takes the container's own spec (capabilities, rlimits, environment, working
directory) with the command line's overrides; the user is resolved in the container's rootfs as
for the container itself, and a missing command is reported as docker does (127, 126) before
the runtime is asked. Without a tty the output is copied to the caller's streams; with one,
the runtime handles the terminal itself.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import BinaryIO

from lamina.errors import ContainerError
from lamina.runtime.bundle import ContainerDir, replace_env
from lamina.runtime.oci import Runtime, exec_failure_code, last_error
from lamina.runtime.rootpath import RootFS, in_kernel_dir
from lamina.runtime.spec import bounding_caps
from lamina.runtime.step import exec_error, path_of
from lamina.runtime.users import added_groups, groups, resolve_user


def exec_process(cdir: ContainerDir, runtime: Runtime, argv: Sequence[str], *,
                 env: Sequence[str] = (), workdir: str | None = None, user: str | None = None,
                 tty: bool = False, stdin: int | None = None,
                 stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
                 group_add: Sequence[str] = (), privileged: bool = False,
                 detach: bool = False, detach_keys: bytes = b"\x10\x11",
                 terminal: int | None = None) -> int:
    """Run ``argv`` in the container; return its exit status.

    ``group_add``: the container's --group-add, for a ``user`` given here; ``privileged``:
    every capability (the container's other confinement stays, as docker's exec
    --privileged); ``detach``: start it and return 0, its output going nowhere (docker keeps
    no log of a detached exec either); ``detach_keys``: with a tty, the keys that leave the
    process running and return 0 (lamina.runtime.exec_tty). Returns the exit status (0 once
    started, detached). ``terminal``: with ``tty``, the pty (its slave side) the runtime's
    terminal is relayed to, rather than ours (the API service holds the master side)."""
    try:
        spec = json.loads((cdir.path / "config.json").read_text())
    except FileNotFoundError:
        raise ContainerError(f"container {cdir.id[:12]} has no runtime spec") from None
    process = dict(spec["process"])
    fs = RootFS(cdir.rootfs)
    if user:
        who = resolve_user(fs, user)
        process["user"] = {"uid": who.uid, "gid": who.gid,
                           "additionalGids": groups(who, added_groups(fs, group_add))}
        if who.uid != 0:
            caps = process["capabilities"]
            process["capabilities"] = {**caps, "effective": [], "permitted": []}
    if privileged:
        every = bounding_caps()
        caps = {"bounding": every, "effective": every, "permitted": every}
        if process["user"]["uid"] != 0:
            caps = {**caps, "effective": [], "permitted": []}
        process["capabilities"] = caps
    if workdir:
        cwd = fs.resolve(workdir if workdir.startswith("/") else "/" + workdir)
        if in_kernel_dir(cwd):
            raise ContainerError(f"working directory {workdir} is in /proc, /sys or /dev: refused",
                                 exit_code=126)
        process["cwd"] = cwd
    process["env"] = replace_env(process["env"], list(env))
    process["args"] = list(argv)
    # A detached process has nobody at a terminal: it gets none (and /dev/null for stdio).
    process["terminal"] = tty and not detach
    size = _window_size(terminal) if process["terminal"] and terminal is not None else None
    if size is not None:
        # the runtime sets it on the process's terminal before the process starts (a size
        # relayed after the start could come after the program has looked)
        process["consoleSize"] = {"height": size[0], "width": size[1]}
    _, code = fs.find_executable(argv[0], path_of(process["env"]))
    if code:
        # docker's exec: a process that cannot start is 126 whatever the cause (run's 127
        # and 126 tell them apart); detached, the start's failure is an error (1).
        raise ContainerError(f"OCI runtime exec failed: {exec_error(argv[0], code)}",
                             exit_code=1 if detach else 126)
    with tempfile.NamedTemporaryFile("w", dir=cdir.path, prefix="exec-", suffix=".json") as f, \
            tempfile.NamedTemporaryFile("r", dir=cdir.path, prefix="exec-", suffix=".log") as log:
        json.dump(process, f)
        f.flush()
        from pathlib import Path

        argv_rt = runtime.command("exec", *(["--tty"] if process["terminal"] else []),
                                  *(["--detach"] if detach else []), "--process", f.name,
                                  cdir.id, log=Path(log.name))
        if detach:
            rc = subprocess.run(argv_rt, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, check=False).returncode
        elif tty and terminal is not None:
            rc = _on_terminal(argv_rt, terminal)
        elif tty:
            from lamina.runtime.exec_tty import exec_tty

            rc = exec_tty(runtime, cdir.id, f.name, Path(log.name), stdin=stdin,
                          stdout=stdout or sys.stdout.buffer, detach_keys=detach_keys)
        else:
            rc = _piped(argv_rt, stdin, stdout, stderr)
        if rc == 255 or (rc != 0 and last_error(Path(log.name))):
            message = last_error(Path(log.name))
            if message:
                raise ContainerError(f"OCI runtime exec failed: {message}",
                                     exit_code=exec_failure_code(message) or 126)
        return rc


def _window_size(fd: int) -> tuple[int, int] | None:
    """A terminal's (rows, columns), or None when it has none set."""
    import fcntl
    import struct
    import termios

    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


def _on_terminal(argv: list[str], terminal: int) -> int:
    """The runtime with ``terminal`` as its stdio and controlling terminal: a size set on the
    pty reaches it as SIGWINCH, and it resizes the container's terminal to match."""
    import fcntl
    import termios

    def controlling() -> None:  # in the child, after setsid
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal,
                            start_new_session=True, preexec_fn=controlling)
    return proc.wait()


def _piped(argv: list[str], stdin: int | None, stdout: BinaryIO | None,
           stderr: BinaryIO | None) -> int:
    proc = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    targets = {proc.stdout.fileno(): stdout, proc.stderr.fileno(): stderr}
    selector = selectors.DefaultSelector()
    for fd in targets:
        selector.register(fd, selectors.EVENT_READ)
    while targets:
        for key, _ in selector.select():
            fd = int(key.fd)
            data = os.read(fd, 1 << 16)
            if not data:
                selector.unregister(fd)
                targets.pop(fd)
                continue
            target = targets[fd]
            if target is not None:
                target.write(data)
                target.flush()
    return proc.wait()
