"""``lamina create``: a new container from an image, not started."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.container_flags import as_run_error, build_options
from lamina.cli.container_options import CONTEXT, create_options, puller
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import LaminaError


@click.command("create", context_settings=CONTEXT)
@create_options
@pass_engine
def create(engine: Engine, image: str, command: tuple[str, ...], **kw: Any) -> None:
    """Create a new container"""
    try:
        record = engine.create_container(image, command, build_options(kw, detach=True),
                                         pull=puller(engine, kw.get("disable_content_trust", False)))
    except LaminaError as exc:
        raise as_run_error(exc) from exc
    click.echo(record.id)
