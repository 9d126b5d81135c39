"""``lamina load``: docker archives (legacy and 25+) and OCI layout archives."""

from __future__ import annotations

import sys

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import InvalidArgument


@click.command("load")
@click.option("-i", "--input", "input_", default=None, metavar="string",
              help="Read from tar archive file, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@pass_engine
def load(engine: Engine, input_: str | None, quiet: bool) -> None:
    """Load an image from a tar archive or STDIN"""
    if input_ is None:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        messages = engine.load(sys.stdin.buffer)
    else:
        try:
            source = open(input_, "rb")  # noqa: SIM115 (closed below; the error is docker's)
        except OSError as exc:
            # docker's words and status (1): "open missing: no such file or directory"
            raise InvalidArgument(f"open {input_}: {(exc.strerror or str(exc)).lower()}") from None
        with source:
            messages = engine.load(source)
    del quiet  # there is no progress to suppress; docker's -q prints what was loaded too
    for message in messages:
        click.echo(message)
