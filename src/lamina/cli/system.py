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


@system.command("info")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template: 'json', or a Go template")
@click.pass_context
def system_info(ctx: click.Context, fmt: str | None) -> None:
    """Display system-wide information"""
    from lamina.cli.info import info

    ctx.invoke(info, fmt=fmt)
