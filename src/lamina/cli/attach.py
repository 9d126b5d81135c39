"""``lamina attach``: a running container's output, and what is typed to it."""

from __future__ import annotations

import sys

import click

from lamina.cli.container_flags import require_terminal, stdin_fd
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("attach", context_settings={"help_option_names": ["--help"]})
@click.option("--detach-keys", default=None, metavar="string",
              help="Override the key sequence for detaching a container")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--sig-proxy/--no-sig-proxy", default=True,
              help="Proxy all received signals to the process (default true)")
@click.argument("name", metavar="CONTAINER")
@pass_engine
def attach(engine: Engine, name: str, detach_keys: str | None, no_stdin: bool,
           sig_proxy: bool) -> int:
    """Attach local standard input, output, and error streams to a running container"""
    if not no_stdin and engine.container(name).config.get("Config", {}).get("Tty"):
        require_terminal()  # docker: a terminal takes input from a terminal only
    return engine.attach_to(name, sys.stdout.buffer, sys.stderr.buffer,
                            stdin=None if no_stdin else stdin_fd(), detach_keys=detach_keys,
                            sig_proxy=sig_proxy)

