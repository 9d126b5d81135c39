"""``lamina diff``: what a container changed in its filesystem (A added, C changed, D deleted)."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("diff")
@click.argument("name", metavar="CONTAINER")
@pass_engine
def diff(engine: Engine, name: str) -> None:
    """Inspect changes to files or directories on a container's filesystem"""
    for kind, path in engine.diff(name):
        click.echo(f"{kind} {path}")
