"""``lamina export``: a container's filesystem as a tar archive."""

from __future__ import annotations

import sys

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import InvalidArgument


@click.command("export")
@click.argument("name", metavar="CONTAINER")
@click.option("-o", "--output", default=None, metavar="string",
              help="Write to a file, instead of STDOUT")
@pass_engine
def export(engine: Engine, name: str, output: str | None) -> None:
    """Export a container's filesystem as a tar archive"""
    if output:
        with open(output, "wb") as out:
            engine.export(name, out)
        return
    if sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or "
                              "redirect")
    engine.export(name, sys.stdout.buffer)
    sys.stdout.buffer.flush()
