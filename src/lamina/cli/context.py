"""What every command module shares: the engine of this invocation, and formatted output."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from lamina.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])


def pass_engine(f: F) -> F:
    """Give the command an Engine built from the settings the root group parsed."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        root = ctx.find_root()
        engine = root.meta.get("lamina.engine")
        if engine is None:
            engine = root.meta["lamina.engine"] = Engine(root.obj)
            root.call_on_close(engine.close)
        return f(engine, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit(fmt: str, rows: Sequence[Mapping[str, Any]], headers: Mapping[str, str]) -> None:
    """Print rows through a docker --format string (``table ...``, ``json``, or a template)."""
    from lamina.cli.format.table import format_rows

    text = format_rows(fmt, rows, headers)
    if text:
        click.echo(text, nl=not text.endswith("\n"))


def short_id(image_id: str, no_trunc: bool) -> str:
    """docker's ID column: 12 hex digits, or the whole ``sha256:...`` with --no-trunc."""
    if no_trunc:
        return image_id
    return image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]


def format_option(f: F) -> F:
    return click.option(
        "--format", "fmt", default=None, metavar="string",
        help="Format output using a custom template: 'table', 'table TEMPLATE', 'json', "
             "or a Go template",
    )(f)


def filter_option(f: F) -> F:
    return click.option(
        "-f", "--filter", "filters", multiple=True, metavar="filter",
        help="Filter output based on conditions provided",
    )(f)
