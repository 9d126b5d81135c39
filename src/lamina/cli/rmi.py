"""``lamina rmi`` / ``lamina image rm``: untag, then delete what has no name left."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import LaminaError


@click.command("rmi")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents")
@pass_engine
def rmi(engine: Engine, names: tuple[str, ...], force: bool, no_prune: bool) -> int:
    """Remove one or more images"""
    removals, failures = engine.remove_images(names, force=force, prune=not no_prune)
    for removal in removals:
        click.echo(f"{removal.action}: {removal.value}")
    for failure in failures:
        click.echo(f"Error: {failure}", err=True)
        if isinstance(failure, LaminaError) and failure.hint:
            click.echo(failure.hint, err=True)
    return 1 if failures else 0
