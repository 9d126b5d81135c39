"""The authorizers behind ``lamina.registry.authz.Authorizer``: htpasswd (Basic) and token (Bearer).

Each one answers ``authorize(request, repository, actions)``: None to allow, ``UNAUTHORIZED``
(401, with the challenge a client needs to try again) when credentials are missing, wrong or not
enough for a token, and ``DENIED`` (403) when a Basic user is known but not allowed. The account
goes on ``request.state.account`` for the access log; the credentials go nowhere.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import anyio.to_thread

from lamina.errors import Unauthorized
from lamina.registry.auth.access import CATALOG_ACTIONS, AccessList, Scope
from lamina.registry.auth.htpasswd import Htpasswd
from lamina.registry.authz import CATALOG
from lamina.registry.errors import RegistryHTTPError

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from lamina.registry.auth.token import Access, TokenAuthority

_ACTION_ORDER = {"pull": 0, "push": 1, "delete": 2}
_TOKEN_CACHE_SIZE = 4096


def requested_scope(repository: str | None, actions: frozenset[str]) -> Scope | None:
    """The token scope a request needs: ``repository:name:pull,push`` or the catalog's."""
    if repository is None:
        if CATALOG in actions:
            return Scope("registry", "catalog", CATALOG_ACTIONS)
        return None  # the /v2/ base endpoint: any authenticated client will do
    return Scope("repository", repository, actions)


def scope_text(scope: Scope) -> str:
    # Clients send "pull,push", in that order; answer in their words.
    ordered = sorted(scope.actions, key=lambda a: (_ACTION_ORDER.get(a, 9), a))
    return f"{scope.type}:{scope.name}:{','.join(ordered)}"


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None if it is not one."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def bearer_token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def check_basic(htpasswd: Htpasswd, user: str, password: str) -> bool:
    """Check credentials; bcrypt runs in a worker thread unless the pair was verified before."""
    if htpasswd.is_cached(user, password):
        return True
    return await anyio.to_thread.run_sync(htpasswd.check, user, password)


class HtpasswdAuthorizer:
    """HTTP Basic against an htpasswd file, with the access list deciding per repository."""

    def __init__(self, htpasswd: Htpasswd, access: AccessList, *, realm: str) -> None:
        self.htpasswd = htpasswd
        self.access = access
        self.realm = realm

    def _challenge(self, message: str) -> RegistryHTTPError:
        return RegistryHTTPError(
            "UNAUTHORIZED",
            message,
            headers={"WWW-Authenticate": f"Basic realm={_quote(self.realm)}"},
        )

    def _permits(self, account: str | None, scope: Scope | None) -> bool:
        if scope is None:
            return account is not None or self.access.anonymous_pull
        return scope.actions <= self.access.allowed(account, scope.type, scope.name)

    async def authorize(
        self, request: HTTPConnection, repository: str | None, actions: frozenset[str]
    ) -> None:
        scope = requested_scope(repository, actions)
        header = request.headers.get("authorization")
        if header is None:
            if self._permits(None, scope):
                return None
            raise self._challenge("authentication required")
        creds = basic_credentials(header)
        if creds is None or not await check_basic(self.htpasswd, *creds):
            raise self._challenge("invalid username or password")
        account = creds[0]
        request.state.account = account
        if not self._permits(account, scope):
            raise RegistryHTTPError(
                "DENIED", f"requested access to {scope_text(scope) if scope else 'it'} is denied"
            )
        return None


class TokenAuthorizer:
    """Bearer JWTs issued by the registry's own ``/token`` endpoint."""

    def __init__(self, authority: TokenAuthority, *, realm: str | None = None) -> None:
        self.authority = authority
        # An explicit realm URL (behind a proxy); else it is built from the request's own URL.
        self.realm = realm
        self._verified: OrderedDict[str, tuple[float, Access]] = OrderedDict()

    def realm_for(self, request: HTTPConnection) -> str:
        if self.realm:
            return self.realm
        return f"{request.url.scheme}://{request.url.netloc}/token"

    def challenge(
        self, request: HTTPConnection, scope: Scope | None, message: str, *, error: str = ""
    ) -> RegistryHTTPError:
        parts = [
            f"realm={_quote(self.realm_for(request))}",
            f"service={_quote(self.authority.service)}",
        ]
        if scope is not None:
            parts.append(f"scope={_quote(scope_text(scope))}")
        if error:
            parts.append(f"error={_quote(error)}")
        return RegistryHTTPError(
            "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer " + ",".join(parts)}
        )

    def verify(self, token: str) -> Access:
        """Verify a token, remembering a good one until it expires: a client reuses a token for
        every request of a pull, and an ECDSA check per request is wasted work."""
        now = time.time()
        hit = self._verified.get(token)
        if hit is not None:
            if hit[0] > now:
                return hit[1]
            self._verified.pop(token, None)
        access = self.authority.verify(token)
        self._verified[token] = (access.expires_at, access)
        while len(self._verified) > _TOKEN_CACHE_SIZE:
            self._verified.popitem(last=False)
        return access

    async def authorize(
        self, request: HTTPConnection, repository: str | None, actions: frozenset[str]
    ) -> None:
        scope = requested_scope(repository, actions)
        header = request.headers.get("authorization")
        token = bearer_token(header) if header else None
        if token is None:
            raise self.challenge(request, scope, "authentication required")
        try:
            access = self.verify(token)
        except Unauthorized as e:
            raise self.challenge(request, scope, e.message, error="invalid_token") from e
        if access.account:
            request.state.account = access.account
        if scope is not None and not access.allows(scope.type, scope.name, scope.actions):
            raise self.challenge(
                request,
                scope,
                f"the token does not grant {scope_text(scope)}",
                error="insufficient_scope",
            )
        return None
