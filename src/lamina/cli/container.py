"""``lamina container ...``: the management form of the container verbs, as docker has it."""

from __future__ import annotations

import click

from lamina.cli.commands import LazyGroup

SUBCOMMANDS = {
    "ls": "lamina.cli.ps:ps",
    "list": "lamina.cli.ps:ps",
    "ps": "lamina.cli.ps:ps",
    "run": "lamina.cli.run:run",
    "create": "lamina.cli.create:create",
    "start": "lamina.cli.start:start",
    "stop": "lamina.cli.stop:stop",
    "kill": "lamina.cli.kill:kill",
    "restart": "lamina.cli.restart:restart",
    "rm": "lamina.cli.rm:rm",
    "remove": "lamina.cli.rm:rm",
    "wait": "lamina.cli.wait:wait",
    "logs": "lamina.cli.logs:logs",
    "exec": "lamina.cli.exec_:exec_",
    "inspect": "lamina.cli.inspect:container_inspect",
    "diff": "lamina.cli.diff:diff",
    "export": "lamina.cli.export:export",
    "commit": "lamina.cli.commit:commit",
    "prune": "lamina.cli.container_prune:container_prune",
}


@click.group("container", cls=LazyGroup, lazy=SUBCOMMANDS)
def container() -> None:
    """Manage containers"""
