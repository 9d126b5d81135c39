"""``lamina start``: start stopped containers; with -a, stay attached to one."""

from __future__ import annotations

import sys

import click

from lamina.cli.container_each import for_each
from lamina.cli.container_flags import stdin_fd
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import ContainerError, InvalidArgument


@click.command("start")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@pass_engine
def start(engine: Engine, names: tuple[str, ...], attach: bool, interactive: bool) -> int:
    """Start one or more stopped containers"""
    if not (attach or interactive):
        return for_each(names, engine.start, summary="failed to start containers")
    if len(names) > 1:
        raise InvalidArgument("you cannot start and attach multiple containers at once")
    from lamina.engine.lifecycle import attach_hooks

    tty = bool(engine.container(names[0]).config.get("Config", {}).get("Tty"))
    hooks = attach_hooks(stdin=stdin_fd() if interactive and not tty else None)
    try:
        running = engine.start(names[0], attach=hooks)
    except ContainerError as exc:
        raise ContainerError(exc.message, exit_code=1) from exc
    if running.started is None:
        return 0
    return engine.attach(running, sys.stdout.buffer, sys.stderr.buffer,
                         stdin=stdin_fd() if interactive and tty else None)

