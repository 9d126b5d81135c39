"""``lamina port CONTAINER [PRIVATE_PORT[/PROTO]]``: a container's published ports."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import NotFound


@click.command("port")
@click.argument("container")
@click.argument("private", required=False, metavar="[PRIVATE_PORT[/PROTO]]")
@pass_engine
def port(engine: Engine, container: str, private: str | None) -> None:
    """List port mappings or a specific mapping for the container"""
    ports = engine.container_ports(container)
    if private is None:
        for p in ports:
            click.echo(f"{p['ContainerPort']}/{p['Proto']} -> {p['HostIp']}:{p['HostPort']}")
        return
    number, _, proto = private.partition("/")
    proto = proto or "tcp"
    found = [p for p in ports if str(p["ContainerPort"]) == number and p["Proto"] == proto]
    if not found:
        raise NotFound(f"No public port '{number}/{proto}' published for {container}")
    for p in found:
        click.echo(f"{p['HostIp']}:{p['HostPort']}")
