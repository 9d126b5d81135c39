"""The flags ``run`` and ``create`` share, as docker 28 spells them, and how they reach the engine."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lamina.errors import ContainerError, InvalidArgument, LaminaError

F = TypeVar("F", bound=Callable[..., Any])

# docker run -h is --hostname; help is --help only. Options stop at the image, so that
# `run IMAGE sh -c ...` hands "-c" to the command.
CONTEXT = {"help_option_names": ["--help"], "allow_interspersed_args": False}


def create_options(f: F) -> F:
    options = [
        click.option("--name", default=None, metavar="string",
                     help="Assign a name to the container"),
        click.option("-e", "--env", multiple=True, metavar="list",
                     help="Set environment variables"),
        click.option("--env-file", "env_files", multiple=True, metavar="list",
                     help="Read in a file of environment variables"),
        click.option("-w", "--workdir", default=None, metavar="string",
                     help="Working directory inside the container"),
        click.option("-u", "--user", default=None, metavar="string",
                     help="Username or UID (format: <name|uid>[:<group|gid>])"),
        click.option("--entrypoint", default=None, metavar="string",
                     help="Overwrite the default ENTRYPOINT of the image"),
        click.option("-v", "--volume", "volumes", multiple=True, metavar="list",
                     help="Bind mount a volume (SRC:DST[:ro])"),
        click.option("--network", "--net", "network", default="host", metavar="network",
                     help="Connect a container to a network (none or host)"),
        click.option("-h", "--hostname", default=None, metavar="string",
                     help="Container host name"),
        click.option("-m", "--memory", default=None, metavar="bytes", help="Memory limit"),
        click.option("--cpus", default=None, metavar="decimal", help="Number of CPUs"),
        click.option("--pids-limit", default=None, type=int, metavar="int",
                     help="Tune container pids limit (set -1 for unlimited)"),
        click.option("--read-only", is_flag=True,
                     help="Mount the container's root filesystem as read only"),
        click.option("--cap-add", multiple=True, metavar="list", help="Add Linux capabilities"),
        click.option("--cap-drop", multiple=True, metavar="list",
                     help="Drop Linux capabilities"),
        click.option("-l", "--label", "labels", multiple=True, metavar="list",
                     help="Set meta data on a container"),
        click.option("-i", "--interactive", is_flag=True,
                     help="Keep STDIN open even if not attached"),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY"),
        click.option("--rm", "autoremove", is_flag=True,
                     help="Automatically remove the container and its associated anonymous "
                          "volumes when it exits"),
        click.option("--runtime", default=None, metavar="string",
                     help="Runtime to use for this container (runc or crun)"),
        click.argument("image", metavar="IMAGE"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[COMMAND] [ARG...]"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


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
    )


def as_run_error(exc: LaminaError) -> ContainerError:
    """docker run/create exit with 125 when the engine fails (not the container)."""
    if isinstance(exc, ContainerError):
        return exc
    return ContainerError(exc.message, hint=exc.hint, exit_code=125)


def puller(engine: Any) -> Callable[[str], None]:
    """Pull a missing image as docker run does, telling the user first."""

    def pull(name: str) -> None:
        from lamina.model.reference import Reference

        try:
            shown = Reference.parse(name).with_default_tag().familiar
        except LaminaError:
            shown = name
        click.echo(f"Unable to find image '{shown}' locally", err=True)
        if not hasattr(engine, "pull"):
            raise ContainerError(f"No such image: {shown} (pulling is not available)")

        def progress(event: Any) -> None:
            if event.status.startswith(("Pulling", "Pull complete", "Digest", "Status")):
                click.echo(f"{event.id}: {event.status}", err=True)

        engine.pull(name, progress=progress)

    return pull


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
