"""``lamina save``: images to docker 25+'s archive (OCI layout plus manifest.json)."""

from __future__ import annotations

import os
import sys

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import InvalidArgument


@click.command("save")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to a file, instead of STDOUT")
@pass_engine
def save(engine: Engine, names: tuple[str, ...], output: str | None) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)"""
    if output is None:
        if sys.stdout.isatty():
            raise InvalidArgument(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect")
        engine.save(names, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    # Write beside the target and rename, so a failed save leaves no half archive behind.
    tmp = f"{output}.lamina-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as out:
            engine.save(names, out)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
