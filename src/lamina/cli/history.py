"""``lamina history IMAGE``: one row per build step, newest first."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.context import emit, format_option, pass_engine, short_id
from lamina.cli.format.units import format_rfc3339, human_size, time_ago
from lamina.engine import Engine
from lamina.engine.views import HistoryRow

HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
           "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
DEFAULT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
NON_HUMAN = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
CREATED_BY_WIDTH = 45


def ellipsis(text: str, width: int) -> str:
    """docker's stringutils.Ellipsis: cut to ``width`` characters ending in '…'."""
    return text if len(text) <= width else text[: width - 1] + "…"


class GoBool(click.ParamType):
    """A boolean flag as Go's flag package reads one: ``-H`` alone is true, and a value comes
    attached, ``-H=false`` or ``--human=false`` (click hands a short option "=false")."""

    name = "bool"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).removeprefix("=").lower()
        if text in ("1", "t", "true"):
            return True
        if text in ("0", "f", "false"):
            return False
        self.fail(f'invalid argument "{value}" for "-H, --human" flag', param, ctx)


def history_fields(row: HistoryRow, human: bool, no_trunc: bool) -> dict[str, Any]:
    created_by = row.created_by.replace("\t", " ")
    return {
        "ID": row.id if row.id == "<missing>" else short_id(row.id, no_trunc),
        "CreatedSince": (time_ago(row.created) if human else format_rfc3339(row.created))
        if row.created else "N/A",
        "CreatedAt": format_rfc3339(row.created) if row.created else "N/A",
        "CreatedBy": created_by if no_trunc else ellipsis(created_by, CREATED_BY_WIDTH),
        "Size": human_size(row.size) if human else str(row.size),
        "Comment": row.comment,
    }


@click.command("history")
@click.argument("image")
@format_option
@click.option("-H", "--human", type=GoBool(), is_flag=False, flag_value=True, default=True,
              show_default=True,
              help="Print sizes and dates in human readable format")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@pass_engine
def history(engine: Engine, image: str, fmt: str | None, human: bool, no_trunc: bool,
            quiet: bool) -> None:
    """Show the history of an image"""
    rows = engine.history(image)
    if quiet:
        for row in rows:
            click.echo(row.id if row.id == "<missing>" else short_id(row.id, no_trunc))
        return
    if fmt is None or fmt == "table":
        # docker's table without -H shows the time under its own heading, CREATED AT.
        fmt = DEFAULT if human else NON_HUMAN
    emit(fmt, [history_fields(r, human, no_trunc) for r in rows], HEADERS)
