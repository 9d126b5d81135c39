"""``lamina logout [SERVER]``: forget a registry's credentials, as docker's logout."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("logout")
@click.argument("server", required=False, metavar="[SERVER]")
@pass_engine
def logout(engine: Engine, server: str | None) -> int:
    """Log out from a registry.
    Defaults to Docker Hub if no server is specified."""
    result = engine.logout(server)
    if not result.logged_in:
        click.echo(f"Not logged in to {result.server}")
        return 0
    click.echo(f"Removing login credentials for {result.server}")
    for warning in result.warnings:
        click.echo(warning, err=True)
    return 0
