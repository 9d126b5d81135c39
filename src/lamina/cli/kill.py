"""``lamina kill``: send a signal (SIGKILL by default) to running containers."""

from __future__ import annotations

import click

from lamina.cli.container_each import for_each
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("kill")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@click.option("-s", "--signal", "signal_name", default="KILL", metavar="string",
              help="Signal to send to the container")
@pass_engine
def kill(engine: Engine, names: tuple[str, ...], signal_name: str) -> int:
    """Kill one or more running containers"""
    return for_each(names, lambda n: engine.kill(n, signal_name))
