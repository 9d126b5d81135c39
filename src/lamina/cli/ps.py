"""``lamina ps`` / ``lamina container ls``: docker's table of containers."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from lamina.cli.commands import GO_INT
from lamina.cli.context import emit, filter_option, format_option, pass_engine
from lamina.engine import Engine
from lamina.engine.container_views import ContainerRow

HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
    "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
    "State": "STATE", "LocalVolumes": "LOCAL VOLUMES",
}
DEFAULT = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t"
           "{{.Ports}}\t{{.Names}}")
DEFAULT_SIZE = DEFAULT + "\t{{.Size}}"


def _command(command: str, no_trunc: bool) -> str:
    from lamina.cli.format.table import ellipsis

    if not no_trunc:
        command = ellipsis(command, 20)
    return json.dumps(command, ensure_ascii=False)


def row_fields(row: ContainerRow, no_trunc: bool, now: float) -> dict[str, Any]:
    from lamina.cli.format.units import format_created_at, human_size, time_ago

    # docker's Size: "0B" when not asked for (-s), the virtual size only when there is one.
    size = human_size(row.size_rw or 0)
    if row.size_root:
        size += f" (virtual {human_size(row.size_root)})"
    return {
        "ID": row.id if no_trunc else row.id[:12],
        "Image": row.image,
        "Command": _command(row.command, no_trunc),
        "CreatedAt": format_created_at(row.created),
        "RunningFor": time_ago(row.created, now),
        "Status": row.status(now),
        "State": row.state,
        "Ports": row.ports,
        "Names": row.name,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(row.labels.items())),
        "Size": size,
        "Mounts": ",".join(row.mounts),
        "Networks": row.network,
        "LocalVolumes": "0",
        "Platform": None,  # docker's (an image's platform, which lamina's list does not give)
    }


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Show all containers (default shows just running)")
@filter_option
@format_option
@click.option("-n", "--last", type=GO_INT, default=-1, metavar="int",
              help="Show n last created containers (includes all states)")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@pass_engine
def ps(engine: Engine, all_: bool, filters: tuple[str, ...], fmt: str | None, last: int,
       latest: bool, no_trunc: bool, quiet: bool, size: bool) -> None:
    """List containers"""
    if latest:
        last = 1
    wants_size = size or bool(fmt and ".Size" in fmt)
    rows = engine.containers(all=all_, filters=filters, last=last, size=wants_size)
    if quiet:
        for row in rows:
            click.echo(row.id if no_trunc else row.id[:12])
        return
    if fmt is None or fmt == "table":
        fmt = DEFAULT_SIZE if size else DEFAULT
    now = time.time()
    emit(fmt, [row_fields(r, no_trunc, now) for r in rows], HEADERS)
