"""``lamina stop``: SIGTERM (or the image's StopSignal), then SIGKILL after a grace period."""

from __future__ import annotations

import click

from lamina.cli.container_each import for_each
from lamina.cli.container_options import stop_options
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("stop")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@stop_options
@pass_engine
def stop(engine: Engine, names: tuple[str, ...], signal_name: str | None,
         timeout: int | None) -> int:
    """Stop one or more running containers"""
    return for_each(names, lambda n: engine.stop(n, timeout=timeout, signal=signal_name))
