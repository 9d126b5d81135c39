"""``lamina run``: create a container from an image and start it, attached or detached."""

from __future__ import annotations

import sys
from typing import Any

import click

from lamina.cli.container_options import (
    CONTEXT,
    as_run_error,
    build_options,
    create_options,
    puller,
    stdin_fd,
)
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import LaminaError


@click.command("run", context_settings=CONTEXT)
@click.option("-d", "--detach", is_flag=True,
              help="Run container in background and print container ID")
@create_options
@pass_engine
def run(engine: Engine, image: str, command: tuple[str, ...], detach: bool, **kw: Any) -> int:
    """Create and run a new container from an image"""
    from lamina.engine.lifecycle import attach_hooks

    interactive = kw.get("interactive", False)
    tty = kw.get("tty", False)
    try:
        options = build_options(kw, detach=detach)
        hooks = None
        if not detach:
            hooks = attach_hooks(stdin=stdin_fd() if interactive and not tty else None)
        running = engine.run(image, command, options, attach=hooks, pull=puller(engine))
    except LaminaError as exc:
        raise as_run_error(exc) from exc
    if detach or running.started is None:
        click.echo(running.record.id)
        return 0
    return engine.attach(running, sys.stdout.buffer, sys.stderr.buffer,
                  stdin=stdin_fd() if interactive and tty else None)
