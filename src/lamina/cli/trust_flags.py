"""``--disable-content-trust`` as docker spells it on pull, push, build, create and run, and
``--signature-policy`` (podman's), shared by the verbs that pull."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class GoBoolValue(click.ParamType):
    """A switch that also takes ``=true``/``=false`` (Go's flag package), for one flag."""

    name = "bool"

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).removeprefix("=")
        if text in ("1", "t", "T", "true", "TRUE", "True"):
            return True
        if text in ("0", "f", "F", "false", "FALSE", "False"):
            return False
        from lamina.cli.commands import FlagValueError

        error = FlagValueError(f'invalid argument "{value}" for "{self.flag}" flag: '
                               f'strconv.ParseBool: parsing "{value}": invalid syntax')
        if ctx is not None:
            error.command_path = ctx.command_path
        raise error  # (pflag's words alone, as for every other switch)


HIDDEN = "--disable-content-trust-value"


class ContentTrustCommand(click.Command):
    """A command with ``--disable-content-trust``: a switch that also takes an attached
    ``=false`` as Go's flags do. click's optional-value options would swallow the next word
    (the image), so the attached form is handed to a hidden option instead."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten += args[i:]
                break
            if arg.startswith("--disable-content-trust="):
                rewritten += [HIDDEN, arg.partition("=")[2]]
            else:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def _merge(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        ctx.meta["lamina.content_trust_value"] = value
    return value


def content_trust_option(help: str = "Skip image verification") -> Callable[[F], F]:
    """``disable_content_trust``: None when not given (the signature policy and
    DOCKER_CONTENT_TRUST then decide), else the switch's value. Use with
    ``cls=ContentTrustCommand``."""

    def decorate(f: F) -> F:
        f = click.option(HIDDEN, "disable_content_trust_value", hidden=True, default=None,
                         type=GoBoolValue("--disable-content-trust"), expose_value=False,
                         callback=_merge)(f)
        return click.option("--disable-content-trust", "disable_content_trust", is_flag=True,
                            default=None, flag_value=True, callback=_given,
                            help=f"{help} (default true)")(f)

    return decorate


def _given(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    explicit = ctx.meta.get("lamina.content_trust_value")
    return explicit if explicit is not None else (True if value else None)


def policy_option(f: F) -> F:
    return click.option("--signature-policy", "signature_policy", default=None,
                        metavar="string",
                        help="Path to a signature verification policy file")(f)


def trust_options(disabled: bool | None, policy: str | None = None) -> Any:
    from lamina.engine.trust import TrustOptions

    return TrustOptions(disabled, policy)
