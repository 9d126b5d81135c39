"""``lamina import``: a one-layer image from a root filesystem tarball."""

from __future__ import annotations

import sys

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("import")
@click.argument("source", metavar="file|-")
@click.argument("reference", required=False, metavar="[REPOSITORY[:TAG]]")
@click.option("-c", "--change", "changes", multiple=True, metavar="list",
              help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", default="", help="Set commit message for imported image")
@pass_engine
def import_(engine: Engine, source: str, reference: str | None, changes: tuple[str, ...],
            message: str) -> None:
    """Import the contents from a tarball to create a filesystem image"""
    if source == "-":
        image_id = engine.import_(sys.stdin.buffer, reference, changes=changes, message=message)
    else:
        with click.open_file(source, "rb") as stream:
            image_id = engine.import_(stream, reference, changes=changes, message=message,
                                     source_name=source)
    click.echo(image_id)
