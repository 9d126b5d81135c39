"""``lamina create``: a new container from an image, not started."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.container_flags import as_run_error, build_options
from lamina.cli.container_options import CONTEXT, create_options, puller
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.engine.lifecycle import prepare_run
from lamina.errors import LaminaError


@click.command("create", context_settings=CONTEXT)
@create_options
@pass_engine
def create(engine: Engine, image: str, command: tuple[str, ...], **kw: Any) -> None:
    """Create a new container"""
    from lamina.cli.runner import _claim_cidfile, _drop_cidfile, _write_cidfile

    cidfile = None
    try:
        options = build_options(kw, detach=True)
        cidfile = _claim_cidfile(kw.get("cidfile"))
        with engine.store.holding():  # the image is kept from the pull to the container
            options = prepare_run(engine.store, image, options, puller(engine, kw),
                                  lambda warning: click.echo(warning, err=True), running=False)
            record = engine.create_container(image, command, options)
        if cidfile is not None:
            _write_cidfile(cidfile, record.id)
            cidfile = None
    except LaminaError as exc:
        raise as_run_error(exc) from exc
    finally:
        if cidfile is not None:
            _drop_cidfile(cidfile, kw["cidfile"])
    click.echo(record.id)
