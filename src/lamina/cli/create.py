"""``lamina create``: a new container from an image, not started."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from lamina.cli.container_flags import build_options
from lamina.cli.container_options import CONTEXT, create_options, puller
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.engine.lifecycle import prepare_run
from lamina.errors import ContainerError, InvalidArgument, LaminaError, UsageError


def as_create_error(exc: LaminaError) -> LaminaError:
    """docker create's status once its CLI has parsed the command line: 125 for what the CLI
    itself refuses, 1 for what its engine refuses (run gives 125 for both)."""
    if isinstance(exc, UsageError):
        return exc
    return ContainerError(exc.message, hint=exc.hint, exit_code=1)


def _read_env_files(paths: Sequence[str]) -> None:
    """--env-file is read by docker's CLI: a missing file is a usage error (125) here."""
    from lamina.engine.containers import read_env_files

    try:
        read_env_files(paths)
    except InvalidArgument as exc:
        raise UsageError(exc.message) from None


@click.command("create", context_settings=CONTEXT)
@create_options
@pass_engine
def create(engine: Engine, image: str, command: tuple[str, ...], **kw: Any) -> None:
    """Create a new container"""
    from lamina.cli.runner import _claim_cidfile, _drop_cidfile, _write_cidfile

    cidfile = None
    try:
        options = build_options(kw, detach=True)
        _read_env_files(options.env_files)
        cidfile = _claim_cidfile(kw.get("cidfile"))
        with engine.store.holding():  # the image is kept from the pull to the container
            options = prepare_run(engine.store, image, options, puller(engine, kw),
                                  lambda warning: click.echo(warning, err=True), running=False)
            record = engine.create_container(image, command, options)
        if cidfile is not None:
            _write_cidfile(cidfile, record.id)
            cidfile = None
    except LaminaError as exc:
        raise as_create_error(exc) from exc
    finally:
        if cidfile is not None:
            _drop_cidfile(cidfile, kw["cidfile"])
    click.echo(record.id)
