"""``lamina top``: the processes of a running container, as ``ps`` shows them on the host."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("top", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.argument("container", metavar="CONTAINER")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED, metavar="[ps OPTIONS]")
@pass_engine
def top(engine: Engine, container: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container"""
    click.echo(engine.top(container, ps_args), nl=False)
