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
@click.option("--since", default=None, metavar="string",
              help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                   '(e.g. "42m" for 42 minutes)')
@click.option("--until", default=None, metavar="string",
              help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                   '(e.g. "42m" for 42 minutes)')
@pass_engine
def logs(engine: Engine, name: str, follow: bool, tail: str, timestamps: bool,
         details: bool, since: str | None, until: str | None) -> None:
    """Fetch the logs of a container"""
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for entry in engine.logs(name, follow=follow, tail=tail, since=since, until=until):
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
