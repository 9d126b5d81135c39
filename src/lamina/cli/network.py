"""``lamina network create|ls|inspect|rm|prune|connect|disconnect``, as docker 28's."""

from __future__ import annotations

import sys

import click

from lamina.cli.commands import PflagGroup
from lamina.cli.context import emit, filter_option, pass_engine
from lamina.engine import Engine
from lamina.errors import InvalidArgument, LaminaError

LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
              "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
              "CreatedAt": "CREATED AT"}


@click.group("network", cls=PflagGroup)
def network() -> None:
    """Manage networks"""


@network.command("create")
@click.argument("name")
@click.option("-d", "--driver", default="bridge", metavar="string",
              help="Driver to manage the Network")
@click.option("--subnet", "subnets", multiple=True, metavar="strings",
              help="Subnet in CIDR format that represents a network segment")
@click.option("--gateway", "gateways", multiple=True, metavar="strings",
              help="IPv4 or IPv6 Gateway for the master subnet")
@click.option("--ip-range", "ip_ranges", multiple=True, metavar="strings",
              help="Allocate container ip from a sub-range")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option("--label", "labels", multiple=True, metavar="list",
              help="Set metadata on a network")
@click.option("-o", "--opt", "opts", multiple=True, metavar="map",
              help="Set driver specific options")
@click.option("--ipv6", is_flag=True, help="Enable or disable IPv6 networking")
@pass_engine
def create(engine: Engine, name: str, driver: str, subnets: tuple[str, ...],
           gateways: tuple[str, ...], ip_ranges: tuple[str, ...], internal: bool,
           attachable: bool, labels: tuple[str, ...], opts: tuple[str, ...],
           ipv6: bool) -> None:
    """Create a network"""
    from lamina.engine.volumes import parse_options

    if ipv6:
        raise InvalidArgument("lamina networks are IPv4 only: --ipv6 is not supported")
    if len(subnets) > 1 or len(gateways) > 1 or len(ip_ranges) > 1:
        raise InvalidArgument("lamina networks have one IPv4 subnet, gateway and ip-range")
    if len(gateways) > len(subnets):
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    label_map = {k: v for k, _, v in (item.partition("=") for item in labels)}
    net = engine.create_network(
        name, driver=driver, subnet=subnets[0] if subnets else None,
        gateway=gateways[0] if gateways else None,
        ip_range=ip_ranges[0] if ip_ranges else None, internal=internal, labels=label_map,
        options=parse_options(opts), attachable=attachable)
    click.echo(net["Id"])


@network.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@filter_option
@click.option("--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template")
@pass_engine
def ls(engine: Engine, quiet: bool, no_trunc: bool, filters: tuple[str, ...],
       fmt: str | None) -> None:
    """List networks"""
    from lamina.model.units import format_rfc3339nano

    rows = []
    for net in engine.networks(filters):
        rows.append({
            "ID": net["Id"] if no_trunc else net["Id"][:12], "Name": net["Name"],
            "Driver": net["Driver"], "Scope": "local", "IPv6": "false",
            "Internal": "true" if net.get("Internal") else "false",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted((net.get("Labels") or {}).items())),
            "CreatedAt": format_rfc3339nano(net.get("Created") or 0.0)})
    if quiet and fmt is None:
        for row in rows:
            click.echo(row["ID"])
        return
    emit(fmt or "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows, LS_HEADERS)


@network.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="NETWORK [NETWORK...]")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template")
@pass_engine
def inspect(engine: Engine, names: tuple[str, ...], fmt: str | None) -> int:
    """Display detailed information on one or more networks"""
    from lamina.cli.inspect import render_objects

    objects, failed = [], False
    for name in names:
        try:
            objects.append(engine.inspect_network(name))
        except LaminaError as exc:
            failed = True
            sys.stderr.write(f"Error: {exc}\n")
    if objects or not failed:
        render_objects(objects, fmt)
    return 1 if failed else 0


@network.command("rm")
@click.argument("names", nargs=-1, required=True, metavar="NETWORK [NETWORK...]")
@click.option("-f", "--force", is_flag=True,
              help="Do not error if the network does not exist")
@pass_engine
def rm(engine: Engine, names: tuple[str, ...], force: bool) -> int:
    """Remove one or more networks"""
    from lamina.cli.container_each import for_each
    from lamina.errors import NotFound

    def remove(name: str) -> None:
        try:
            engine.remove_network(name)
        except NotFound:
            if not force:
                raise

    return for_each(names, remove)


@network.command("prune")
@click.option("--filter", "filters", multiple=True, metavar="filter",
              help="Provide filter values (e.g. \"until=<timestamp>\")")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_engine
def prune(engine: Engine, filters: tuple[str, ...], force: bool) -> None:
    """Remove all unused networks"""
    if not force:
        click.echo("WARNING! This will remove all custom networks not used by at least one "
                   "container.")
        if not click.confirm("Are you sure you want to continue?", default=False,
                             prompt_suffix=" [y/N] ", show_default=False):
            return
    removed = engine.prune_networks(filters)
    if removed:
        click.echo("Deleted Networks:")
        for name in removed:
            click.echo(name)
        click.echo()


@network.command("connect")
@click.argument("net", metavar="NETWORK")
@click.argument("container")
@click.option("--alias", "aliases", multiple=True, metavar="strings",
              help="Add network-scoped alias for the container")
@click.option("--ip", default=None, metavar="string", help="IPv4 address (e.g., 172.30.100.104)")
@pass_engine
def connect(engine: Engine, net: str, container: str, aliases: tuple[str, ...],
            ip: str | None) -> None:
    """Connect a container to a network"""
    engine.connect_network(net, container, aliases=aliases, ip=ip)


@network.command("disconnect")
@click.argument("net", metavar="NETWORK")
@click.argument("container")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network")
@pass_engine
def disconnect(engine: Engine, net: str, container: str, force: bool) -> None:
    """Disconnect a container from a network"""
    engine.disconnect_network(net, container, force=force)
