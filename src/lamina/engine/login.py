"""``login`` and ``logout``: check credentials against a registry, keep them in config.json.

Login follows the registry's own challenge, as docker does: ``GET /v2/`` without credentials,
then Basic or a token from the Bearer realm (which is where a wrong password shows), then
``GET /v2/`` again with what was earned. Only credentials the registry accepted are saved, in
docker's ``config.json`` (``lamina.remote.credentials``), so docker and lamina share them.
Errors read as docker's do::

    Get "https://registry.example/v2/": unauthorized: incorrect username or password
    login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import (
    Denied,
    LaminaError,
    RegistryError,
    StorageError,
    TransportError,
    Unauthorized,
)
from lamina.remote import credentials

if TYPE_CHECKING:
    from lamina.remote.options import RemoteOptions

@dataclass(frozen=True)
class LoginResult:
    server: str  # the key in config.json: "https://index.docker.io/v1/" or "host[:port]"
    username: str
    url: str  # the /v2/ URL that accepted the credentials
    stored_in: Path | None  # the config file if the secret is kept there in plain text


@dataclass(frozen=True)
class LogoutResult:
    server: str  # as docker prints it
    logged_in: bool  # False: "Not logged in to <server>"
    warnings: tuple[str, ...] = ()


def endpoint_of(server: str | None) -> tuple[str, str]:
    """(config key, base URL) of a login server given as docker accepts it: nothing for
    Docker Hub, ``host[:port]``, or a URL (``https://host/v1/``)."""
    from lamina.remote.transport import DOCKER_HUB_ENDPOINT

    key = credentials.server_key(server)
    if key == credentials.DOCKER_HUB_KEY:
        return key, f"https://{DOCKER_HUB_ENDPOINT}"
    return key, f"https://{key}"


def check_credentials(
    server: str | None,
    username: str,
    password: str,
    *,
    options: RemoteOptions | None = None,
) -> str:
    """Check credentials against the registry; return the ``/v2/`` URL that took them.

    Raises Unauthorized (the registry or its token server refused them), Denied, or
    TransportError, with docker's wording.
    """
    import httpx

    from lamina.remote.auth import Authenticator
    from lamina.remote.options import RemoteOptions
    from lamina.remote.transport import Transport, describe, host_of, read_limited

    options = options or RemoteOptions()
    _, base = endpoint_of(server)
    host = host_of(base)
    transport = Transport(base, options)
    url = f"{base}/v2/"
    try:
        client = transport.client()  # an insecure registry's scheme is settled here
        url = f"{transport.base_url}/v2/"
        auth = Authenticator(
            host,
            credentials=lambda _host: (username, password),
            insecure=options.is_insecure(host),
            client=client,
        )
        transport.authorizer = auth
        try:
            response = transport.request("GET", "/v2/", scopes=[])
        except (Unauthorized, Denied) as e:
            # The token server's answer: drop our "host: " prefix, keep "unauthorized: ...".
            detail = e.message.removeprefix(f"{auth.registry}: ")
            raise e.reworded(f'Get "{url}": {detail}') from e
        except TransportError as e:
            detail = e.message.removeprefix(f"{host}: ")
            raise e.reworded(f'Get "{url}": {detail}') from e
        status = response.status_code
        read_limited(response, 64 * 1024, what="answer to /v2/")
        if status == 200:
            return url
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        message = f"login attempt to {url} failed with status: {status} {reason}".rstrip()
        if status == 401:
            raise Unauthorized(message, status=status, code="UNAUTHORIZED")
        if status == 403:
            raise Denied(message, status=status, code="DENIED")
        raise RegistryError(message, status=status)
    except httpx.HTTPError as e:
        raise TransportError(f'Get "{url}": {describe(e)}') from e
    finally:
        transport.close()


def login(
    server: str | None,
    username: str,
    password: str,
    *,
    options: RemoteOptions | None = None,
    config_dir: Path | None = None,
) -> LoginResult:
    """Check the credentials, then save them for ``server`` (Docker Hub when None) in
    docker's config directory ``config_dir``."""
    key, _ = endpoint_of(server)
    url = check_credentials(server, username, password, options=options)
    try:
        stored = credentials.store(key, username, password, config_dir=config_dir)
    except LaminaError as e:
        raise StorageError(f"Error saving credentials: {e}", hint=e.hint) from e
    return LoginResult(server=key, username=username, url=url, stored_in=stored)


def stored_login(server: str | None, *, config_dir: Path | None = None
                 ) -> tuple[str, str] | None:
    """The credentials saved for ``server``, if any (docker tries them before prompting)."""
    return credentials.lookup(credentials.server_key(server), config_dir=config_dir)


def logout(server: str | None, *, config_dir: Path | None = None) -> LogoutResult:
    """Forget the credentials of ``server`` (every spelling of it, and a helper's copy)."""
    key = credentials.server_key(server)
    if not credentials.is_logged_in(key, config_dir=config_dir):
        return LogoutResult(server=key, logged_in=False)
    warnings: list[str] = []
    try:
        credentials.erase(key, config_dir=config_dir)
    except LaminaError as e:
        warnings.append(f"WARNING: could not erase credentials: {key}: {e}")
    return LogoutResult(server=key, logged_in=True, warnings=tuple(warnings))


__all__ = [
    "LoginResult",
    "LogoutResult",
    "check_credentials",
    "endpoint_of",
    "login",
    "logout",
    "stored_login",
]
