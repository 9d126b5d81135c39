"""``lamina login [-u USER] [-p PASS | --password-stdin] [SERVER]``, as docker's.

The credentials are checked against the registry before they are saved in docker's
``config.json``. Messages, prompts and their streams follow docker 28: warnings and progress on
stderr, "Login Succeeded" on stdout, and a refused login as "Error response from daemon: ...".
"""

from __future__ import annotations

import getpass
import sys

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import LaminaError, RegistryError, TransportError, Unauthorized

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_UNENCRYPTED_WARNING = (
    "\nWARNING! Your credentials are stored unencrypted in '{path}'.\n"
    "Configure a credential helper to remove this warning. See\n"
    "https://docs.docker.com/go/credential-store/\n"
)
_HUB_INTRO = (
    "Log in with your Docker ID or email address to push and pull images from Docker Hub. "
    "If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.\n"
    "You can log in with your password or a Personal Access Token (PAT). Using a limited-scope "
    "PAT grants better security and is required for organizations using SSO. Learn more at "
    "https://docs.docker.com/go/access-tokens/\n"
)


class LoginRefused(Exception):
    """docker's one-line errors of the login command itself (exit status 1)."""


def _read_password_stdin() -> str:
    data = sys.stdin.read()
    # docker trims one trailing "\n" and then one "\r", nothing else.
    return data.removesuffix("\n").removesuffix("\r")


def _is_hub(server: str | None) -> bool:
    from lamina.engine.login import endpoint_of

    return endpoint_of(server)[0] == DOCKER_HUB_KEY


def _prompt(server: str | None, username: str | None, default_user: str) -> tuple[str, str]:
    if not sys.stdin.isatty():
        raise LoginRefused("Error: Cannot perform an interactive login from a non TTY device")
    if not username:
        if _is_hub(server):
            click.echo(_HUB_INTRO)
        prompt = f"Username ({default_user}): " if default_user else "Username: "
        click.echo(prompt, nl=False)
        username = sys.stdin.readline().strip() or default_user
        if not username:
            raise LoginRefused("Error: Non-null Username Required")
    password = getpass.getpass("Password: ").strip()
    if not password:
        raise LoginRefused("Error: Password Required")
    return username, password


def _try_stored(engine: Engine, server: str | None) -> tuple[bool, str]:
    """docker's first step without flags: the saved credentials, if they still work."""
    stored = engine.stored_login(server)
    if stored is None or stored[0] == "<token>" or not stored[0] or not stored[1]:
        return False, stored[0] if stored and stored[0] != "<token>" else ""
    user, secret = stored
    click.echo(f"Authenticating with existing credentials... [Username: {user}]", err=True)
    try:
        engine.login(server, user, secret)
    except Unauthorized:
        click.echo("Stored credentials invalid or expired", err=True)
        return False, user
    except LaminaError as e:
        click.echo(f"Login did not succeed, error: {e}", err=True)
        return False, user
    click.echo(
        "\ni Info → To login with a different account, run 'lamina logout' followed by "
        "'lamina login'\n",
        err=True,
    )
    return True, user


@click.command("login")
@click.argument("server", required=False, metavar="[SERVER]")
@click.option("-u", "--username", default=None, metavar="string", help="Username")
@click.option(
    "-p",
    "--password",
    default=None,
    metavar="string",
    help="Password or Personal Access Token (PAT)",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Take the Password or Personal Access Token (PAT) from stdin",
)
@pass_engine
def login(
    engine: Engine,
    server: str | None,
    username: str | None,
    password: str | None,
    password_stdin: bool,
) -> int:
    """Authenticate to a registry.
    Defaults to Docker Hub if no server is specified."""
    try:
        if password:
            click.echo(
                "WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True
            )
            if password_stdin:
                raise LoginRefused("--password and --password-stdin are mutually exclusive")
        if password_stdin:
            if not username:
                raise LoginRefused("Must provide --username with --password-stdin")
            password = _read_password_stdin()
        if not username and not password:
            done, default_user = _try_stored(engine, server)
            if done:
                click.echo("Login Succeeded")
                return 0
        else:
            default_user = ""
        password = (password or "").strip()
        if not username or not password:
            username, password = _prompt(server, username, default_user)
    except LoginRefused as e:
        click.echo(str(e), err=True)
        return 1
    try:
        result = engine.login(server, username, password)
    except (RegistryError, TransportError) as e:
        # What docker's daemon reports: the registry's answer, or the network's failure.
        click.echo(f"Error response from daemon: {e}", err=True)
        return 1
    except LaminaError as e:
        # Ours: the config file or a credential helper ("Error saving credentials: ...").
        click.echo(str(e), err=True)
        if e.hint:
            click.echo(e.hint, err=True)
        return 1
    if result.stored_in is not None:
        click.echo(_UNENCRYPTED_WARNING.format(path=result.stored_in), err=True)
    click.echo("Login Succeeded")
    return 0
