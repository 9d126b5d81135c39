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
import tempfile
from collections.abc import Sequence
from typing import BinaryIO

from lamina.errors import ContainerError
from lamina.runtime.bundle import ContainerDir, replace_env
from lamina.runtime.oci import Runtime, exec_failure_code, last_error
from lamina.runtime.rootpath import RootFS, in_kernel_dir
from lamina.runtime.step import exec_error, path_of
from lamina.runtime.users import resolve_user


def exec_process(cdir: ContainerDir, runtime: Runtime, argv: Sequence[str], *,
                 env: Sequence[str] = (), workdir: str | None = None, user: str | None = None,
                 tty: bool = False, stdin: int | None = None,
                 stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
                 detach: bool = False) -> int:
    """Run ``argv`` in the container; return its exit status (0 once started, detached)."""
    try:
        spec = json.loads((cdir.path / "config.json").read_text())
    except FileNotFoundError:
        raise ContainerError(f"container {cdir.id[:12]} has no runtime spec") from None
    process = dict(spec["process"])
    fs = RootFS(cdir.rootfs)
    if user:
        who = resolve_user(fs, user)
        process["user"] = {"uid": who.uid, "gid": who.gid,
                           **({"additionalGids": list(who.additional_gids)}
                              if who.additional_gids else {})}
        if who.uid != 0:
            caps = process["capabilities"]
            process["capabilities"] = {**caps, "effective": [], "permitted": []}
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
        elif tty:
            result = subprocess.run(argv_rt, check=False)
            rc = result.returncode
        else:
            rc = _piped(argv_rt, stdin, stdout, stderr)
        if rc == 255 or (rc != 0 and last_error(Path(log.name))):
            message = last_error(Path(log.name))
            if message:
                raise ContainerError(f"OCI runtime exec failed: {message}",
                                     exit_code=exec_failure_code(message) or 126)
        return rc


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
