"""``lamina stats``: a live table of what containers use (``--no-stream``: one table)."""

from __future__ import annotations

import sys
from typing import Any

import click

from lamina.cli.context import emit, format_option, pass_engine
from lamina.engine import Engine
from lamina.engine.stats import StatsRow

HEADERS = {
    "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}
DEFAULT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
           "{{.BlockIO}}\t{{.PIDs}}")
CLEAR = "\033[2J\033[H"


def row_fields(row: StatsRow, no_trunc: bool) -> dict[str, Any]:
    from lamina.cli.format.units import binary_size, human_size_precision

    def pair(a: int, b: int) -> str:
        return f"{human_size_precision(a, 3)} / {human_size_precision(b, 3)}"

    return {
        "Container": row.container,
        "ID": row.id if no_trunc else row.id[:12],
        "Name": row.name,
        "CPUPerc": f"{row.cpu_percent:.2f}%",
        "MemUsage": f"{binary_size(row.memory)} / {binary_size(row.memory_limit)}",
        "MemPerc": f"{row.memory_percent:.2f}%",
        "NetIO": pair(0, 0),  # host or no network: nothing of the container's own to count
        "BlockIO": pair(row.read_bytes, row.written_bytes),
        "PIDs": str(row.pids),
    }


@click.command("stats")
@click.argument("names", nargs=-1, metavar="[CONTAINER...]")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Show all containers (default shows just running)")
@format_option
@click.option("--no-stream", is_flag=True,
              help="Disable streaming stats and only pull the first result")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@pass_engine
def stats(engine: Engine, names: tuple[str, ...], all_: bool, fmt: str | None,
          no_stream: bool, no_trunc: bool) -> None:
    """Display a live stream of container(s) resource usage statistics"""
    if fmt is None or fmt == "table":
        fmt = DEFAULT
    terminal = sys.stdout.isatty()
    while True:
        rows = engine.stats(names, all=all_)  # (one second of readings)
        if not no_stream and terminal:
            click.echo(CLEAR, nl=False)
        emit(fmt, [row_fields(row, no_trunc) for row in rows], HEADERS)
        if no_stream:
            return
