"""``lamina pause``: freeze every process of running containers."""

from __future__ import annotations

import click

from lamina.cli.container_each import for_each
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("pause")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_engine
def pause(engine: Engine, names: tuple[str, ...]) -> int:
    """Pause all processes within one or more containers"""
    return for_each(names, engine.pause)
