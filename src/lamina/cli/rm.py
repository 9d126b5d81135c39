"""``lamina rm``: remove containers (running ones only with -f)."""

from __future__ import annotations

import click

from lamina.cli.container_each import for_each
from lamina.cli.context import pass_engine
from lamina.engine import Engine


@click.command("rm")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@click.option("-f", "--force", is_flag=True,
              help="Force the removal of a running container (uses SIGKILL)")
@click.option("-v", "--volumes", is_flag=True,
              help="Remove anonymous volumes associated with the container")
@click.option("-l", "--link", is_flag=True, help="Remove the specified link")
@pass_engine
def rm(engine: Engine, names: tuple[str, ...], force: bool, volumes: bool, link: bool) -> int:
    """Remove one or more containers"""
    if link:
        # -l removes a link, never the container. lamina has no links: each name fails as
        # docker's does for a name that is not a link, and every container stays.
        return for_each(names, lambda n: _no_link(engine, n))
    return for_each(names, lambda n: engine.remove_container(n, force=force, volumes=volumes))


def _no_link(engine: Engine, name: str) -> None:
    from lamina.errors import Conflict, NotFound

    link = name.lstrip("/")
    if "/" in link:  # parent/alias: no container has that link
        raise NotFound(f"No such container: {link}")
    engine.container(link)  # (an unknown name is reported as such)
    raise Conflict("Conflict, cannot remove the default link name of the container")
