"""``lamina cp``: copy files/folders between a container and the local filesystem."""

from __future__ import annotations

import sys

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("cp")
@click.argument("source", metavar="CONTAINER:SRC_PATH|SRC_PATH|-")
@click.argument("destination", metavar="DEST_PATH|-|CONTAINER:DEST_PATH")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symlinks in SRC_PATH")
@click.option("-q", "--quiet", is_flag=True,
              help="Suppress progress output during copy")
@pass_engine
def cp(engine: Engine, source: str, destination: str, archive: bool, follow_link: bool,
       quiet: bool) -> None:
    """Copy files/folders between a container and the local filesystem

    Use '-' as the source to read a tar archive from stdin and extract it to a directory
    destination in a container. Use '-' as the destination to stream a tar archive of a
    container source to stdout.
    """
    from lamina.cli.format.units import human_size

    copied = engine.copy(source, destination, follow_link=follow_link, archive=archive,
                         stdin=sys.stdin.buffer if source == "-" else None,
                         stdout=sys.stdout.buffer if destination == "-" else None)
    if copied.destination is not None and not quiet:
        click.echo(f"Successfully copied {human_size(copied.size)} to {copied.destination}",
                   err=True)
