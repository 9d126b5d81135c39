"""``lamina builder prune``: the build cache (``lamina.engine.builder``)."""

from __future__ import annotations

import sys

import click

from lamina.cli.commands import PflagGroup
from lamina.cli.context import pass_engine
from lamina.cli.format.units import human_size, parse_bytes
from lamina.engine import Engine


@click.group("builder", cls=PflagGroup)
def builder() -> None:
    """Manage builds"""


@builder.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused build cache, not "
              "just dangling ones")
@click.option("--filter", "filters", multiple=True, metavar="filter",
              help='Provide filter values (e.g. "until=24h")')
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--keep-storage", default="0", metavar="bytes",
              help="Amount of disk space to keep for cache")
@pass_engine
def prune(engine: Engine, all_: bool, filters: tuple[str, ...], force: bool,
          keep_storage: str) -> None:
    """Remove build cache"""
    if not force:
        warning = ("WARNING! This will remove all build cache." if all_
                   else "WARNING! This will remove all dangling build cache.")
        click.echo(f"{warning} Are you sure you want to continue? [y/N] ", nl=False)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    report = engine.prune_build_cache(all=all_, filters=filters,
                                      keep_storage=parse_bytes(keep_storage))
    if report.removed:
        click.echo("Deleted build cache objects:")
        for key in report.removed:
            click.echo(key)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(report.reclaimed)}")
