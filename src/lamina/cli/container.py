"""``lamina container ...``: the management form of the container verbs, as docker has it."""

from __future__ import annotations

import click

from lamina.cli.commands import CONTAINER_COMMANDS, LazyGroup

SUBCOMMANDS = {
    **CONTAINER_COMMANDS,
    "ls": "lamina.cli.ps:ps",
    "list": "lamina.cli.ps:ps",
    "remove": "lamina.cli.rm:rm",
    "inspect": "lamina.cli.inspect:container_inspect",
    "prune": "lamina.cli.container_prune:container_prune",
}


@click.group("container", cls=LazyGroup, lazy=SUBCOMMANDS)
def container() -> None:
    """Manage containers"""
