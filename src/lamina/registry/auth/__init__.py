"""Authentication and authorization of the registry: none, htpasswd (Basic) or token (Bearer).

``build_auth(config)`` turns the ``[auth]`` settings into the authorizer the handlers call and
the extra routes it needs (``/token`` for the token kind).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import InvalidArgument

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from lamina.registry.authz import Authorizer
    from lamina.registry.config import RegistryConfig

KINDS = ("none", "htpasswd", "token")


def token_key_path(config: RegistryConfig) -> Path:
    """Where the token signing key lives: the configured file, or one made under the root."""
    return config.auth.token_key or (Path(config.root) / "auth" / "token-key.pem")


def build_auth(config: RegistryConfig) -> tuple[Authorizer, list[BaseRoute]]:
    auth = config.auth
    if auth.kind not in KINDS:
        raise InvalidArgument(
            f"unknown auth kind {auth.kind!r}: expected one of {', '.join(KINDS)}"
        )
    if auth.kind == "none":
        from lamina.registry.authz import AllowAll

        return AllowAll(), []
    # Imported only when needed: bcrypt, and jwt with cryptography, take a while to load.
    from starlette.routing import Route

    from lamina.registry.auth.access import AccessList
    from lamina.registry.auth.authorizers import HtpasswdAuthorizer, TokenAuthorizer
    from lamina.registry.auth.htpasswd import Htpasswd

    access = AccessList.from_config(auth.access, anonymous_pull=auth.anonymous_pull)
    htpasswd = Htpasswd(Path(auth.htpasswd)) if auth.htpasswd else None
    if auth.kind == "htpasswd":
        if htpasswd is None:
            raise InvalidArgument("auth kind htpasswd needs an htpasswd file (auth.htpasswd)")
        return HtpasswdAuthorizer(htpasswd, access, realm=auth.realm), []

    from lamina.registry.auth.token import TokenAuthority, load_key, load_or_create_key
    from lamina.registry.auth.token_server import TokenEndpoint

    authority = TokenAuthority(
        # One key for every replica: PEM text from the environment, or a file they share.
        load_key(Path("auth.token_key_pem"), auth.token_key_pem.encode())
        if auth.token_key_pem
        else load_or_create_key(token_key_path(config)),
        issuer=auth.token_issuer,
        service=auth.token_service,
        ttl=auth.token_ttl,
    )
    realm_url = auth.realm if auth.realm.startswith(("http://", "https://")) else None
    endpoint = TokenEndpoint(authority, access, htpasswd, realm=auth.realm)
    routes: list[BaseRoute] = [Route("/token", endpoint.handle, methods=["GET", "POST"])]
    return TokenAuthorizer(authority, realm=realm_url), routes


__all__ = ["KINDS", "build_auth", "token_key_path"]
