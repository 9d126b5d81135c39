"""``lamina system df``: disk usage, in docker's table."""

from __future__ import annotations

import click

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


@click.group("system")
def system() -> None:
    """Manage lamina"""


@system.command("df")
@format_option
@pass_engine
def df(engine: Engine, fmt: str | None) -> None:
    """Show lamina disk usage"""
    usage = engine.disk_usage()
    rows = [
        {"Type": "Images", "TotalCount": str(usage.images_total), "Active": str(usage.images_active),
         "Size": human_size(usage.images_size),
         "Reclaimable": _reclaimable(usage.images_reclaimable, usage.images_size)},
        {"Type": "Containers", "TotalCount": str(usage.containers_total),
         "Active": str(usage.containers_active), "Size": human_size(usage.containers_size),
         "Reclaimable": _reclaimable(usage.containers_reclaimable, usage.containers_size)},
        {"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B",
         "Reclaimable": "0B"},
        {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B",
         "Reclaimable": "0B"},
    ]
    emit(fmt or DEFAULT, rows, HEADERS)


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
