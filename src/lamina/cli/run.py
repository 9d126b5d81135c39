"""``lamina run``: create a container from an image and start it, attached or detached.

Common command lines never reach this module: ``lamina.cli.runner`` runs them without click."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.container_flags import RUN_FLAGS
from lamina.cli.container_options import CONTEXT, container_options, puller
from lamina.cli.context import pass_engine
from lamina.cli.runner import execute
from lamina.engine import Engine


@click.command("run", context_settings=CONTEXT)
@container_options(RUN_FLAGS)
@pass_engine
def run(engine: Engine, image: str, command: tuple[str, ...], **kw: Any) -> int:
    """Create and run a new container from an image"""
    return execute(engine, image, command, kw, pull=puller(engine, kw))
