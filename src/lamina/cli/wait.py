"""``lamina wait``: block until containers stop, then print their exit codes."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import LaminaError


@click.command("wait")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_engine
def wait(engine: Engine, names: tuple[str, ...]) -> int:
    """Block until one or more containers stop, then print their exit codes"""
    failed = False
    for name in names:
        try:
            click.echo(str(engine.wait(name)))
        except LaminaError as exc:
            click.echo(f"Error: {exc}", err=True)
            failed = True
    return 1 if failed else 0
