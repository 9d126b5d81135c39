"""``lamina image prune``: dangling images, or with -a every image no container uses."""

from __future__ import annotations

import sys

import click

from lamina.cli.context import pass_engine
from lamina.cli.format.units import human_size
from lamina.engine import Engine

WARNING_DANGLING = "WARNING! This will remove all dangling images."
WARNING_ALL = "WARNING! This will remove all images without at least one container associated to them."


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones")
@click.option("--filter", "filters", multiple=True, metavar="filter",
              help="Provide filter values (e.g. \"until=<timestamp>\")")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_engine
def prune(engine: Engine, all_: bool, filters: tuple[str, ...], force: bool) -> int:
    """Remove unused images"""
    if not force:
        click.echo(WARNING_ALL if all_ else WARNING_DANGLING)
        click.echo("Are you sure you want to continue? [y/N] ", nl=False)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    report = engine.prune_images(all=all_, filters=filters)
    if report.removals:
        click.echo("Deleted Images:")
        for removal in report.removals:
            click.echo(f"{removal.action.lower()}: {removal.value}")
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0
