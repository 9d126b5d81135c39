"""The flags ``run`` and ``create`` share, as docker 28 spells them, and how they reach the engine.

The flags are one table. ``lamina.cli.container_options`` makes click options of it for the
full command line (help, errors, every form); ``parse`` reads the common command lines with it
directly, so that ``lamina run`` starts without loading click (a third of its start-up). This
module must not import click.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from lamina.errors import ContainerError, InvalidArgument, LaminaError

# Kinds of flag: a switch, a string, a string that may repeat (a list), an integer.
FLAG, VALUE, LIST, INT = "flag", "value", "list", "int"

# (names, parameter, kind, metavar, help)
Flag = tuple[tuple[str, ...], str, str, str, str]

CREATE_FLAGS: tuple[Flag, ...] = (
    (("--name",), "name", VALUE, "string", "Assign a name to the container"),
    (("-e", "--env"), "env", LIST, "list", "Set environment variables"),
    (("--env-file",), "env_files", LIST, "list", "Read in a file of environment variables"),
    (("-w", "--workdir"), "workdir", VALUE, "string", "Working directory inside the container"),
    (("-u", "--user"), "user", VALUE, "string",
     "Username or UID (format: <name|uid>[:<group|gid>])"),
    (("--entrypoint",), "entrypoint", VALUE, "string",
     "Overwrite the default ENTRYPOINT of the image"),
    (("-v", "--volume"), "volumes", LIST, "list", "Bind mount a volume (SRC:DST[:ro])"),
    (("--network", "--net"), "network", VALUE, "network",
     "Connect a container to a network (none or host)"),
    (("-h", "--hostname"), "hostname", VALUE, "string", "Container host name"),
    (("-m", "--memory"), "memory", VALUE, "bytes", "Memory limit"),
    (("--cpus",), "cpus", VALUE, "decimal", "Number of CPUs"),
    (("--pids-limit",), "pids_limit", INT, "int",
     "Tune container pids limit (set -1 for unlimited)"),
    (("--read-only",), "read_only", FLAG, "", "Mount the container's root filesystem as read only"),
    (("--cap-add",), "cap_add", LIST, "list", "Add Linux capabilities"),
    (("--cap-drop",), "cap_drop", LIST, "list", "Drop Linux capabilities"),
    (("-l", "--label"), "labels", LIST, "list", "Set meta data on a container"),
    (("-i", "--interactive"), "interactive", FLAG, "", "Keep STDIN open even if not attached"),
    (("-t", "--tty"), "tty", FLAG, "", "Allocate a pseudo-TTY"),
    (("--rm",), "autoremove", FLAG, "",
     "Automatically remove the container and its associated anonymous volumes when it exits"),
    (("--runtime",), "runtime", VALUE, "string",
     "Runtime to use for this container (runc or crun)"),
    (("--security-opt",), "security_opt", LIST, "list", "Security Options"),
    (("--privileged",), "privileged", FLAG, "", "Give extended privileges to this container"),
    (("--group-add",), "group_add", LIST, "list", "Add additional groups to join"),
    (("--disable-content-trust",), "disable_content_trust", FLAG, "",
     "Skip image verification (default true)"),
)

RUN_FLAGS: tuple[Flag, ...] = (
    (("-d", "--detach"), "detach", FLAG, "", "Run container in background and print container ID"),
    *CREATE_FLAGS,
)


def parse(args: list[str], flags: tuple[Flag, ...]
          ) -> tuple[dict[str, Any], str, list[str]] | None:
    """``[FLAGS] IMAGE [COMMAND] [ARG...]`` read as click reads it (flags stop at the image;
    ``--x=v``, ``--x v``, ``-xv``, ``-x v`` and clustered switches such as ``-it``), as the
    parameters, the image and the command; None for anything else (help, an unknown flag, a
    missing or malformed value, no image), which click then reads and reports."""
    table = {name: flag for flag in flags for name in flag[0]}
    kw: dict[str, Any] = {param: () if kind == LIST else False if kind == FLAG else None
                          for _, param, kind, _, _ in flags}  # click's defaults
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            return kw, arg, args[i:]
        # The flags this argument names, each with the value it carries (None: none given).
        given: list[tuple[str, str | None]] = []
        if arg.startswith("--"):
            long_name, eq, inline = arg.partition("=")
            given.append((long_name, inline if eq else None))
        else:  # -it, -e K=V, -eK=V: switches, then at most one flag that takes the rest
            for j in range(1, len(arg)):
                flag = table.get("-" + arg[j])
                if flag is not None and flag[2] != FLAG:
                    given.append(("-" + arg[j], arg[j + 1:] or None))
                    break
                given.append(("-" + arg[j], None))
        for name, value in given:
            flag = table.get(name)
            if flag is None:
                return None
            _, param, kind, _, _ = flag
            if kind == FLAG:
                if value is not None:
                    return None  # --rm=yes
                kw[param] = True
                continue
            if value is None:
                if i == len(args):
                    return None
                value = args[i]
                i += 1
            if kind == LIST:
                kw[param] = (*kw[param], value)
            elif kind == INT:
                try:
                    kw[param] = int(value)  # as click converts it
                except ValueError:
                    return None
            else:
                kw[param] = value
    if i < len(args):  # after "--": the image, then the command
        return kw, args[i], args[i + 1:]
    return None


def build_options(kw: dict[str, Any], *, detach: bool = False) -> Any:
    """CreateOptions from the parsed flags (values checked as docker checks them)."""
    from lamina.engine.containers import CreateOptions

    memory = None
    if kw.get("memory"):
        from lamina.cli.format.units import parse_bytes  # (its datetime and calendar too)

        memory = parse_bytes(kw["memory"])
    if memory is not None and memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    cpus = None
    if kw.get("cpus"):
        try:
            cpus = float(kw["cpus"])
        except ValueError:
            raise InvalidArgument(f'invalid argument "{kw["cpus"]}" for "--cpus" flag') from None
        if cpus <= 0:
            raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")
    pids = kw.get("pids_limit")
    return CreateOptions(
        name=kw.get("name"), env=kw.get("env", ()), env_files=kw.get("env_files", ()),
        workdir=kw.get("workdir"), user=kw.get("user"), entrypoint=kw.get("entrypoint"),
        volumes=kw.get("volumes", ()), network=kw.get("network") or "host",
        hostname=kw.get("hostname"), memory=memory, cpus=cpus,
        pids_limit=pids if pids and pids > 0 else None, read_only=kw.get("read_only", False),
        cap_add=kw.get("cap_add", ()), cap_drop=kw.get("cap_drop", ()),
        labels=kw.get("labels", ()), tty=kw.get("tty", False),
        interactive=kw.get("interactive", False), autoremove=kw.get("autoremove", False),
        runtime=kw.get("runtime"), detach=detach,
        security_opt=kw.get("security_opt", ()), privileged=kw.get("privileged", False),
        group_add=kw.get("group_add", ()),
    )


def as_run_error(exc: LaminaError) -> ContainerError:
    """docker run/create exit with 125 when the engine fails (not the container)."""
    if isinstance(exc, ContainerError):
        return exc
    return ContainerError(exc.message, hint=exc.hint, exit_code=125)


def require_terminal() -> None:
    """docker's check for ``-it``: attached stdin and a tty need our stdin to be a terminal.
    It fails before anything is made, with docker's bare line and status 1."""
    try:
        terminal = sys.stdin.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal:
        sys.stdout.flush()
        sys.stderr.write("the input device is not a TTY\n")
        sys.exit(1)


def stdin_fd() -> int:
    """Our stdin as an fd for the container; a pipe fed by a thread when it has none (tests)."""
    import io
    import os

    try:
        return sys.stdin.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):
        pass
    source = getattr(sys.stdin, "buffer", sys.stdin)
    read_end, write_end = os.pipe()

    def feed() -> None:
        try:
            data = source.read()
            if isinstance(data, str):
                data = data.encode()
            while data:
                data = data[os.write(write_end, data):]
        except OSError:
            pass
        finally:
            os.close(write_end)

    threading.Thread(target=feed, daemon=True).start()
    return read_end
