"""``lamina rename``: give a container another name."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("rename")
@click.argument("container", metavar="CONTAINER")
@click.argument("new_name", metavar="NEW_NAME")
@pass_engine
def rename(engine: Engine, container: str, new_name: str) -> None:
    """Rename a container"""
    engine.rename(container, new_name)
