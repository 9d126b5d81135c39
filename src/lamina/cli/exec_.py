"""``lamina exec``: run a command in a running container."""

from __future__ import annotations

import sys

import click

from lamina.cli.container_flags import require_terminal, stdin_fd
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option("--detach-keys", default=None, metavar="string",
              help="Override the key sequence for detaching a container")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-e", "--env", multiple=True, metavar="list", help="Set environment variables")
@click.option("--env-file", "env_files", multiple=True, metavar="list",
              help="Read in a file of environment variables")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.option("-w", "--workdir", default=None, metavar="string",
              help="Working directory inside the container")
@click.option("-u", "--user", default=None, metavar="string",
              help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.argument("name", metavar="CONTAINER")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED,
                metavar="COMMAND [ARG...]")
@pass_engine
def exec_(engine: Engine, name: str, command: tuple[str, ...], detach: bool,
          detach_keys: str | None, interactive: bool, tty: bool, env: tuple[str, ...],
          env_files: tuple[str, ...], privileged: bool, workdir: str | None,
          user: str | None) -> int:
    """Execute a command in a running container"""
    if interactive and tty and not detach:
        require_terminal()
    return engine.exec(name, command, env=env, workdir=workdir, user=user, tty=tty,
                       stdin=stdin_fd() if interactive and not detach else None,
                       stdout=sys.stdout.buffer, stderr=sys.stderr.buffer,
                       env_files=env_files, privileged=privileged, detach=detach,
                       detach_keys=detach_keys)
