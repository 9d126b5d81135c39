"""``lamina create``: a new container from an image, not started."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.container_flags import as_run_error, build_options
from lamina.cli.container_options import CONTEXT, create_options, puller
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.engine.lifecycle import ensure_image
from lamina.errors import LaminaError


@click.command("create", context_settings=CONTEXT)
@create_options
@pass_engine
def create(engine: Engine, image: str, command: tuple[str, ...], **kw: Any) -> None:
    """Create a new container"""
    from lamina.cli.runner import _claim_cidfile, _write_cidfile
    from lamina.engine.containers import platform_check

    try:
        options = build_options(kw, detach=True)
        cidfile = _claim_cidfile(kw.get("cidfile"))
        ensure_image(engine.store, image, options, puller(engine, kw))
        platform_check(engine.store, image, options.platform,
                       lambda warning: click.echo(warning, err=True))
        record = engine.create_container(image, command, options._replace(pull="missing"))
        if cidfile is not None:
            _write_cidfile(cidfile, record.id)
    except LaminaError as exc:
        raise as_run_error(exc) from exc
    click.echo(record.id)
