"""``lamina unpause``: thaw the processes of paused containers."""

from __future__ import annotations

import click

from lamina.cli.container_each import for_each
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("unpause")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_engine
def unpause(engine: Engine, names: tuple[str, ...]) -> int:
    """Unpause all processes within one or more containers"""
    return for_each(names, engine.unpause)
