"""The click side of the flags ``run`` and ``create`` share (``lamina.cli.container_flags``
holds the table, and everything about them that needs no click)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lamina.cli.commands import GO_INT
from lamina.cli.container_flags import CREATE_FLAGS, FLAG, INT, LIST, ON, TRI, Flag
from lamina.errors import ContainerError, LaminaError

F = TypeVar("F", bound=Callable[..., Any])

# docker run -h is --hostname; help is --help only. Options stop at the image, so that
# `run IMAGE sh -c ...` hands "-c" to the command.
CONTEXT = {"help_option_names": ["--help"], "allow_interspersed_args": False}


def container_options(flags: tuple[Flag, ...]) -> Callable[[F], F]:
    """The table's flags as click options, then IMAGE [COMMAND] [ARG...]."""

    def decorate(f: F) -> F:
        options = []
        for names, param, kind, metavar, help in flags:
            if kind == FLAG:
                options.append(click.option(*names, param, is_flag=True, help=help))
            elif kind == ON:  # on by default; --x=false (see lamina.cli.commands) turns it off
                long = names[-1]
                options.append(click.option(f"{long}/--no-{long[2:]}", param, default=True,
                                            help=help))
            elif kind == TRI:  # None unless given; --x=false reaches it as --no-x
                long = names[-1]
                options.append(click.option(f"{long}/--no-{long[2:]}", param, default=None,
                                            cls=_SwitchOption, help=help))
            else:
                options.append(click.option(*names, param, default=None, metavar=metavar,
                                            multiple=kind == LIST,
                                            type=GO_INT if kind == INT else None, help=help))
        options += [
            click.argument("image", metavar="IMAGE"),
            click.argument("command", nargs=-1, type=click.UNPROCESSED,
                           metavar="[COMMAND] [ARG...]"),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


create_options = container_options(CREATE_FLAGS)


class _SwitchOption(click.Option):
    """A switch listed in help as docker lists it: its name alone (the ``--no-`` form only
    carries ``--x=false``)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        return None if record is None else (self.opts[0], record[1])


def stop_options(f: F) -> F:
    """The flags ``stop`` and ``restart`` share: the signal to send, and how long to wait."""
    f = click.option("-t", "--timeout", "--time", "timeout", type=GO_INT, default=None,
                     metavar="int", help="Seconds to wait before killing the container")(f)
    return click.option("-s", "--signal", "signal_name", default=None, metavar="string",
                        help="Signal to send to the container")(f)


def puller(engine: Any, kw: dict[str, Any] | None = None) -> Callable[[str], None]:
    """Pull an image as docker run does (--platform's, quietly with -q), telling the user
    first when it is missing (rather than --pull always), under the signature policy unless
    --disable-content-trust was given."""
    kw = kw or {}

    def pull(name: str) -> None:
        from lamina.model.reference import Reference

        try:
            shown = Reference.parse(name).with_default_tag().familiar
        except LaminaError:
            shown = name
        if kw.get("pull") != "always" and not kw.get("quiet"):
            click.echo(f"Unable to find image '{shown}' locally", err=True)
        if not hasattr(engine, "pull"):
            raise ContainerError(f"No such image: {shown} (pulling is not available)")

        from lamina.cli.progress import PROGRESS_STATUSES

        def progress(event: Any) -> None:
            # docker's lines into a pipe, on stderr: byte counts left out, and no "id: "
            # before a line of the whole pull (Digest). Nothing with -q.
            if kw.get("quiet"):
                return
            if event.status not in PROGRESS_STATUSES:
                line = f"{event.id}: {event.status}" if event.id else event.status
                click.echo(line, err=True)

        from lamina.engine.trust import TrustOptions

        # None when not given: DOCKER_CONTENT_TRUST and the policy decide.
        trust = TrustOptions(disabled=kw.get("disable_content_trust"))
        for result in engine.pull(name, platform=kw.get("platform"), progress=progress,
                                  trust=trust):
            if kw.get("quiet"):
                continue
            status = "Downloaded newer image" if result.updated else "Image is up to date"
            click.echo(f"Status: {status} for {result.reference.familiar}", err=True)

    return pull
