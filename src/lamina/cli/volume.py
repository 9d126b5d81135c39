"""``lamina volume create|ls|inspect|rm|prune``: named volumes, as docker's ``local`` driver."""

from __future__ import annotations

import sys

import click

from lamina.cli.commands import PflagGroup
from lamina.cli.context import emit, filter_option, format_option, pass_engine
from lamina.engine import Engine
from lamina.errors import LaminaError

LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT",
              "Labels": "LABELS", "Scope": "SCOPE", "Links": "LINKS", "Size": "SIZE"}


@click.group("volume", cls=PflagGroup)
def volume() -> None:
    """Manage volumes"""


@volume.command("create")
@click.argument("name", required=False)
@click.option("-d", "--driver", default="local", metavar="string",
              help="Specify volume driver name")
@click.option("--label", "labels", multiple=True, metavar="list",
              help="Set metadata for a volume")
@click.option("-o", "--opt", "opts", multiple=True, metavar="map",
              help="Set driver specific options")
@click.option("--name", "name_flag", default=None, hidden=True)
@pass_engine
def create(engine: Engine, name: str | None, driver: str, labels: tuple[str, ...],
           opts: tuple[str, ...], name_flag: str | None) -> None:
    """Create a volume"""
    from lamina.engine.volumes import parse_options

    if name and name_flag and name != name_flag:
        raise click.UsageError("conflicting options: cannot specify a volume-name through "
                               "both --name and as a positional arg")
    label_map = {k: v for k, _, v in (item.partition("=") for item in labels)}
    made = engine.create_volume(name or name_flag, driver=driver, labels=label_map,
                                options=parse_options(opts))
    click.echo(made.name)


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@filter_option
@format_option
@pass_engine
def ls(engine: Engine, quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
    """List volumes"""
    rows = [{"Driver": v.driver, "Name": v.name, "Mountpoint": v.mountpoint,
             "Labels": ",".join(f"{k}={val}" for k, val in sorted(v.labels.items())),
             "Scope": "local", "Links": "N/A", "Size": "N/A"}
            for v in engine.volumes(filters)]
    if quiet and fmt is None:
        for row in rows:
            click.echo(row["Name"])
        return
    emit(fmt or "table {{.Driver}}\t{{.Name}}", rows, LS_HEADERS)


@volume.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="VOLUME [VOLUME...]")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template")
@pass_engine
def inspect(engine: Engine, names: tuple[str, ...], fmt: str | None) -> int:
    """Display detailed information on one or more volumes"""
    from lamina.cli.inspect import render_objects

    objects, failed = [], False
    for name in names:
        try:
            objects.append(engine.volume(name).inspect())
        except LaminaError as exc:
            failed = True
            sys.stderr.write(f"Error: {exc}\n")
    if objects or not failed:
        render_objects(objects, fmt)
    return 1 if failed else 0


@volume.command("rm")
@click.argument("names", nargs=-1, required=True, metavar="VOLUME [VOLUME...]")
@click.option("-f", "--force", is_flag=True,
              help="Force the removal of one or more volumes")
@pass_engine
def rm(engine: Engine, names: tuple[str, ...], force: bool) -> int:
    """Remove one or more volumes"""
    from lamina.cli.container_each import for_each

    return for_each(names, lambda n: engine.remove_volume(n, force=force))


@volume.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Remove all unused volumes, not just anonymous ones")
@click.option("--filter", "filters", multiple=True, metavar="filter",
              help="Provide filter values (e.g. \"label=<label>\")")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_engine
def prune(engine: Engine, all_: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused local volumes"""
    from lamina.cli.format.units import human_size

    if not force:
        what = "all local volumes" if all_ else "anonymous local volumes"
        click.echo(f"WARNING! This will remove {what} not used by at least one container.")
        if not click.confirm("Are you sure you want to continue?", default=False,
                             prompt_suffix=" [y/N] ", show_default=False):
            return
    removed, reclaimed = engine.prune_volumes(filters, all=all_)
    if removed:
        click.echo("Deleted Volumes:")
        for name in removed:
            click.echo(name)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")
