"""``lamina commit``: a new image from a container's changes."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("commit")
@click.argument("name", metavar="CONTAINER")
@click.argument("reference", required=False, metavar="[REPOSITORY[:TAG]]")
@click.option("-a", "--author", default="", metavar="string",
              help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
@click.option("-c", "--change", "changes", multiple=True, metavar="list",
              help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", default="", metavar="string", help="Commit message")
@click.option("-p", "--pause/--no-pause", default=True,
              help="Pause container during commit")
@pass_engine
def commit(engine: Engine, name: str, reference: str | None, author: str,
           changes: tuple[str, ...], message: str, pause: bool) -> None:
    """Create a new image from a container's changes"""
    click.echo(engine.commit(name, reference, message=message, author=author, changes=changes,
                             pause=pause))
