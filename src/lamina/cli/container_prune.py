"""``lamina container prune``: remove the stopped containers the filters select."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, metavar="filter",
              help="Provide filter values (e.g. \"until=<timestamp>\")")
@pass_engine
def container_prune(engine: Engine, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all stopped containers"""
    from lamina.cli.format.units import human_size

    if not force:
        click.echo("WARNING! This will remove all stopped containers.")
        if not click.confirm("Are you sure you want to continue?", default=False,
                             prompt_suffix=" [y/N] ", show_default=False):
            return
    removed, reclaimed = engine.prune_containers(filters)
    if removed:
        click.echo("Deleted Containers:")
        for container_id in removed:
            click.echo(container_id)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")
