"""``lamina logs``: what a container wrote to stdout and stderr (its json-file log)."""

from __future__ import annotations

import sys

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("logs")
@click.argument("name", metavar="CONTAINER")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", metavar="string",
              help='Number of lines to show from the end of the logs (default "all")')
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@pass_engine
def logs(engine: Engine, name: str, follow: bool, tail: str, timestamps: bool,
         details: bool) -> None:
    """Fetch the logs of a container"""
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for entry in engine.logs(name, follow=follow, tail=tail):
        stream = err if entry.stream == "stderr" else out
        text = entry.text
        if details:
            # docker puts the log's attributes (from --log-opt labels/env) first, then a
            # space; lamina's logs carry none, so the line starts with the space alone.
            text = " " + text
        if timestamps:
            text = f"{entry.time} {text}"
        stream.write(text.encode())
        stream.flush()
