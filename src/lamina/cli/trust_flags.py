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
        self.fail(f'invalid argument "{value}" for "{self.flag}" flag: strconv.ParseBool: '
                  f'parsing "{value}": invalid syntax', param, ctx)


def content_trust_option(help: str = "Skip image verification") -> Callable[[F], F]:
    """None when not given: the signature policy and DOCKER_CONTENT_TRUST then decide."""
    return click.option("--disable-content-trust", "disable_content_trust",
                        type=GoBoolValue("--disable-content-trust"), is_flag=False,
                        flag_value=True, default=None, help=f"{help} (default true)")


def policy_option(f: F) -> F:
    return click.option("--signature-policy", "signature_policy", default=None,
                        metavar="string",
                        help="Path to a signature verification policy file")(f)


def trust_options(disabled: bool | None, policy: str | None = None) -> Any:
    from lamina.trust.verify import TrustOptions

    return TrustOptions(disabled, policy)
