"""``lamina image ...``: the management form of the image verbs, as docker has it."""

from __future__ import annotations

import click

from lamina.cli.commands import LazyGroup

SUBCOMMANDS = {
    "ls": "lamina.cli.images:images",
    "list": "lamina.cli.images:images",
    "rm": "lamina.cli.rmi:rmi",
    "remove": "lamina.cli.rmi:rmi",
    "inspect": "lamina.cli.inspect:image_inspect",
    "history": "lamina.cli.history:history",
    "tag": "lamina.cli.tag:tag",
    "prune": "lamina.cli.prune:prune",
    "save": "lamina.cli.save:save",
    "load": "lamina.cli.load:load",
    "import": "lamina.cli.import_:import_",
    "build": "lamina.cli.build:build",
    "pull": "lamina.cli.pull:pull",
    "push": "lamina.cli.push:push",
}


@click.group("image", cls=LazyGroup, lazy=SUBCOMMANDS)
def image() -> None:
    """Manage images"""
