"""``lamina restart``: stop, then start again."""

from __future__ import annotations

import click

from lamina.cli.container_each import for_each
from lamina.cli.container_options import stop_options
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("restart")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@stop_options
@pass_engine
def restart(engine: Engine, names: tuple[str, ...], signal_name: str | None,
            timeout: int | None) -> int:
    """Restart one or more containers"""
    return for_each(names, lambda n: engine.restart(n, timeout=timeout, signal=signal_name))
