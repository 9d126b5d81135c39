"""``lamina system df`` (disk usage, in docker's tables) and ``lamina system prune``."""

from __future__ import annotations

import click

from lamina.cli.commands import PflagGroup
from lamina.cli.context import emit, format_option, pass_engine
from lamina.cli.format.units import human_size
from lamina.engine import Engine

HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
           "Reclaimable": "RECLAIMABLE"}
DEFAULT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def _reclaimable(size: int, total: int) -> str:
    if total <= 0:
        return human_size(size)
    return f"{human_size(size)} ({size * 100 // total}%)"


@click.group("system", cls=PflagGroup)
def system() -> None:
    """Manage lamina"""


@system.command("df")
@format_option
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage")
@pass_engine
def df(engine: Engine, fmt: str | None, verbose: bool) -> None:
    """Show lamina disk usage"""
    if verbose:
        from lamina.cli.system_df import verbose_df

        verbose_df(engine, fmt)
        return
    usage = engine.disk_usage()
    rows = [
        {"Type": "Images", "TotalCount": str(usage.images_total), "Active": str(usage.images_active),
         "Size": human_size(usage.images_size),
         "Reclaimable": _reclaimable(usage.images_reclaimable, usage.images_size)},
        {"Type": "Containers", "TotalCount": str(usage.containers_total),
         "Active": str(usage.containers_active), "Size": human_size(usage.containers_size),
         "Reclaimable": _reclaimable(usage.containers_reclaimable, usage.containers_size)},
        _volumes_row(engine),
        _build_cache_row(engine),
    ]
    emit(fmt or DEFAULT, rows, HEADERS)


def _volumes_row(engine: Engine) -> dict[str, str]:
    usage = engine.volume_usage()
    size = sum(s for _, _, s in usage)
    idle = sum(s for _, links, s in usage if not links)
    return {"Type": "Local Volumes", "TotalCount": str(len(usage)),
            "Active": str(sum(1 for _, links, _ in usage if links)), "Size": human_size(size),
            "Reclaimable": _reclaimable(idle, size)}


def _build_cache_row(engine: Engine) -> dict[str, str]:
    cache = engine.build_cache()
    size = sum(e.size for e in cache)
    idle = sum(e.size for e in cache if not e.in_use)
    return {"Type": "Build Cache", "TotalCount": str(len(cache)),
            "Active": str(sum(1 for e in cache if e.in_use)), "Size": human_size(size),
            "Reclaimable": human_size(idle)}


@system.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Remove all unused images not just dangling ones")
@click.option("--filter", "filters", multiple=True, metavar="filter",
              help='Provide filter values (e.g. "label=<key>=<value>")')
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes")
@pass_engine
def prune(engine: Engine, all_: bool, filters: tuple[str, ...], force: bool,
          volumes: bool) -> None:
    """Remove unused data"""
    if not force and not _confirm(all_, volumes, filters):
        return
    report = engine.system_prune(all=all_, volumes=volumes, filters=filters)
    if report.containers:
        click.echo("Deleted Containers:\n" + "".join(f"{c}\n" for c in report.containers))
    if report.networks:
        click.echo("Deleted Networks:\n" + "".join(f"{n}\n" for n in report.networks))
    if report.volumes:
        click.echo("Deleted Volumes:\n" + "".join(f"{v}\n" for v in report.volumes))
    if report.images:
        click.echo("Deleted Images:\n" + "".join(
            f"{r.action.lower()}: {r.value}\n" for r in report.images))
    if report.cache:
        click.echo("Deleted build cache objects:\n" + "".join(
            f"{key}\n" for key in report.cache))
    click.echo(f"Total reclaimed space: {human_size(report.reclaimed)}")


def _confirm(all_: bool, volumes: bool, filters: tuple[str, ...]) -> bool:
    """docker's warning, what it will remove and with which filters; then y/N."""
    import sys

    warnings = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        warnings.append("all anonymous volumes not used by at least one container")
    warnings.append("all images without at least one container associated to them" if all_
                    else "all dangling images")
    warnings.append("all build cache" if all_ else "unused build cache")
    text = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
    if filters:
        text += "\n  Items to be pruned will be filtered with:\n" + "".join(
            f"  - {f}\n" for f in filters)
    click.echo(text + "\nAre you sure you want to continue? [y/N] ", nl=False)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


@system.command("info")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template: 'json', or a Go template")
@click.pass_context
def system_info(ctx: click.Context, fmt: str | None) -> None:
    """Display system-wide information"""
    from lamina.cli.info import info

    ctx.invoke(info, fmt=fmt)


@system.command("service")
@click.argument("uri", required=False, metavar="[URI]")
@click.option("--socket", "socket_uri", default=None, metavar="URI",
              help="Where to listen: unix:///path (default: /run/lamina/lamina.sock as root, "
                   "$XDG_RUNTIME_DIR/lamina/lamina.sock otherwise), or tcp://HOST:PORT with "
                   "--tlsverify")
@click.option("-t", "--time", "idle", default=5, type=click.IntRange(min=0), metavar="int",
              show_default=True, help="Exit after this many idle seconds (0: never)")
@click.option("--group", default=None, metavar="string",
              help="Make the socket 0660, owned by this group (default: 0600)")
@click.option("--tlsverify", is_flag=True, help="Require client certificates (tcp:// only)")
@click.option("--tlscacert", default=None, metavar="file", help="CA that signs client "
                                                                "certificates")
@click.option("--tlscert", default=None, metavar="file", help="The service's certificate")
@click.option("--tlskey", default=None, metavar="file", help="The service's key")
@pass_engine
def service(engine: Engine, uri: str | None, socket_uri: str | None, idle: int,
            group: str | None, tlsverify: bool, tlscacert: str | None, tlscert: str | None,
            tlskey: str | None) -> None:
    """Serve the Docker Engine API over the local store"""
    from lamina.api.service import TLSFiles, default_socket, run_service

    address = socket_uri or uri or default_socket()
    run_service(engine, address, idle=float(idle), group=group,
                tls=TLSFiles(tlscacert, tlscert, tlskey, tlsverify))
