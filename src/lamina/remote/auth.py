"""Registry authentication: the ``WWW-Authenticate`` challenge, Basic, and Bearer tokens.

One ``Authenticator`` per registry host. The client puts on each request what the
Authenticator holds; on a 401 it hands over the answer and, if told so, retries once with a
request authorized anew::

    auth = Authenticator("registry.example", credentials.lookup)
    scopes = [registry_scope("team/app", ["pull"])]
    auth.authorize(request, scopes)
    response = client.send(request)
    if response.status_code == 401 and auth.handle_challenge(response, scopes):
        request = client.build_request(...)  # the same request again
        auth.authorize(request, scopes)
        response = client.send(request)

The challenge's scheme is remembered: Basic registries then get the credentials on every
request, and Bearer registries a token, fetched before the request when none held covers its
scopes (no 401 round trip after the first). Tokens come from the realm (``lamina.remote.tokens``:
GET with Basic, or the OAuth2 POST with a refresh token) and are cached per set of scopes until
they expire; a token for wider scopes serves narrower ones. Credentials are read once, lazily,
and sent only to the registry itself and to a realm that passes ``check_realm`` (HTTPS, or
plain HTTP on loopback or for a registry the user listed as insecure). ``Authorization`` is set
only on requests to the registry's own host (Docker Hub's names count as one), so a redirect
elsewhere (a CDN, a bucket) never carries it.

httpx is imported lazily (for types, and for a token client of our own when the caller gives
none), so that modules importing this one stay light.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lamina.errors import Denied
from lamina.remote.challenge import Challenge, auth_error, parse_challenges
from lamina.remote.options import is_loopback
from lamina.remote.tokens import (
    DEFAULT_TOKEN_SECONDS,
    IDENTITY_TOKEN_USER,
    Token,
    TokenClient,
    basic_header,
    check_realm,
)

if TYPE_CHECKING:
    import httpx

Credentials = Callable[[str], "tuple[str, str] | None"]

# A token is renewed this long before it expires, so a request never races the expiry.
_EXPIRY_MARGIN = 5.0
_DOCKER_HUB_HOSTS = {"docker.io", "index.docker.io", "registry-1.docker.io"}


def registry_scope(repository_path: str, actions: Sequence[str]) -> str:
    """``repository:team/app:pull,push`` — the scope of a token for a repository path."""
    return f"repository:{repository_path}:{','.join(actions)}"


# --- hosts --------------------------------------------------------------------------------


def _netloc(host: str) -> str:
    """``host[:port]`` lower-cased, without a default port or a scheme."""
    if "://" in host:
        parts = urlsplit(host)
        host, scheme = parts.netloc, parts.scheme
    else:
        scheme = ""
    host = host.lower().rstrip("/")
    if (scheme == "https" and host.endswith(":443")) or (scheme == "http" and host.endswith(":80")):
        host = host.rsplit(":", 1)[0]
    return host


def hostname_of(netloc: str) -> str:
    """The host part of ``host[:port]``, brackets of an IPv6 literal removed."""
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def _same_registry(registry: str, netloc: str) -> bool:
    if registry == netloc:
        return True
    if hostname_of(registry) in _DOCKER_HUB_HOSTS:
        return hostname_of(netloc) in _DOCKER_HUB_HOSTS and netloc.count(":") == 0
    return False


# --- scopes ---------------------------------------------------------------------------------


def _scope_actions(scopes: Sequence[str]) -> dict[tuple[str, str], frozenset[str]]:
    """``{(type, name): actions}`` of scope strings; names may hold ':' (a registry port)."""
    out: dict[tuple[str, str], frozenset[str]] = {}
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        key = (kind, name)
        out[key] = out.get(key, frozenset()) | frozenset(a for a in actions.split(",") if a)
    return out


def _covers(held: frozenset[str], wanted: Sequence[str]) -> bool:
    have = _scope_actions(sorted(held))
    for key, actions in _scope_actions(wanted).items():
        if not actions <= have.get(key, frozenset()):
            return False
    return True


class Authenticator:
    """What one registry host wants, and what we hold for it: credentials and tokens.

    Thread-safe: parallel downloads share one Authenticator, and a token is fetched once for
    all of them.
    """

    def __init__(
        self,
        registry_host: str,
        credentials: Credentials | None = None,
        insecure: bool = False,
        *,
        client: httpx.Client | None = None,
        oauth: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = _netloc(registry_host)
        self.insecure = insecure
        self.oauth = oauth
        self._credentials_source = credentials
        self._credentials: tuple[str, str] | None = None
        self._credentials_read = False
        self._client = client
        self._own_client: httpx.Client | None = None
        self._clock = clock
        self._lock = threading.RLock()
        # What the registry asked for: "basic", "bearer", or None until its first 401.
        self.scheme: str | None = None
        self._bearer: dict[str, str] = {}
        self._tokens: dict[frozenset[str], Token] = {}
        self._refresh_tokens: dict[tuple[str, str], str] = {}
        self._token_client = TokenClient(self.registry, self._http, clock)

    # --- credentials ------------------------------------------------------------------
    @property
    def credentials(self) -> tuple[str, str] | None:
        with self._lock:
            if not self._credentials_read:
                source = self._credentials_source
                self._credentials = source(self.registry) if source is not None else None
                self._credentials_read = True
            return self._credentials

    @property
    def refresh_token(self) -> str | None:
        """The refresh token the realm gave (docker's identity token), if any."""
        with self._lock:
            key = (self._bearer.get("realm", ""), self._bearer.get("service", ""))
            return self._refresh_tokens.get(key)

    def close(self) -> None:
        if self._own_client is not None:
            self._own_client.close()
            self._own_client = None

    # --- the two calls of the client --------------------------------------------------
    def authorize(self, request: httpx.Request, scopes: list[str]) -> None:
        """Put on ``request`` the Authorization this registry wants, if we hold it.

        Nothing is set on a request to another host. For a Bearer registry a token is fetched
        now if none cached covers ``scopes``, which saves the round trip of a 401.
        """
        target = _netloc(f"{request.url.scheme}://{request.url.netloc.decode('ascii')}")
        if not _same_registry(self.registry, target):
            request.headers.pop("Authorization", None)
            return
        with self._lock:
            scheme = self.scheme
        if scheme == "basic":
            creds = self.credentials
            if creds is not None and creds[0] != IDENTITY_TOKEN_USER:
                request.headers["Authorization"] = basic_header(*creds)
        elif scheme == "bearer":
            token = self._token_for(scopes, fetch=True)
            if token is not None:
                request.headers["Authorization"] = f"Bearer {token}"

    def handle_challenge(self, response: httpx.Response, scopes: list[str]) -> bool:
        """Take in the challenge of a 401; True if the request may succeed when retried.

        False when retrying cannot help: no challenge we understand, no credentials for a
        Basic registry, or the request already carried what we would send now. Raises
        Unauthorized or Denied when the token server refuses us, and Unauthorized when the
        realm may not be trusted with credentials.
        """
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        by_scheme = {c.scheme: c for c in reversed(challenges)}
        sent = response.request.headers.get("authorization", "")
        bearer = by_scheme.get("bearer")
        if bearer is not None and bearer.params.get("realm"):
            with self._lock:
                self.scheme = "bearer"
                self._bearer = dict(bearer.params)
                key = frozenset(scopes)
                held = self._tokens.get(key)
                if sent.startswith("Bearer ") and held is not None and sent[7:] == held.value:
                    if held.uses <= 1:
                        # A token fetched for exactly these scopes was just refused: the
                        # account lacks the access, and another token would be the same.
                        if bearer.params.get("error") == "insufficient_scope":
                            raise Denied(
                                f"{self.registry}: requested access to the resource is denied",
                                status=401,
                                code="DENIED",
                            )
                        return False
                    del self._tokens[key]
                elif sent.startswith("Bearer "):
                    # A token that covered these scopes by its wider set: fetch one for them.
                    self._forget(sent[7:])
            # The registry may name a scope of its own (a mount's source repository): ask for it
            # too. Fetched now, counted as used only when a request carries it.
            extra = bearer.params.get("scope", "").split()
            self._token_for(scopes, fetch=True, exact=True, count=False, extra=extra)
            return True
        basic = by_scheme.get("basic")
        if basic is not None:
            with self._lock:
                self.scheme = "basic"
            creds = self.credentials
            if creds is None or creds[0] == IDENTITY_TOKEN_USER:
                return False
            return sent != basic_header(*creds)
        return False

    # --- tokens -----------------------------------------------------------------------
    def _forget(self, value: str) -> None:
        for key, token in list(self._tokens.items()):
            if token.value == value:
                del self._tokens[key]

    def _token_for(
        self,
        scopes: Sequence[str],
        *,
        fetch: bool,
        exact: bool = False,
        count: bool = True,
        extra: Sequence[str] = (),
    ) -> str | None:
        with self._lock:
            now = self._clock()
            key = frozenset(scopes)
            for held_key, held in list(self._tokens.items()):
                if held.expires_at - _EXPIRY_MARGIN <= now:
                    del self._tokens[held_key]
            token = self._tokens.get(key)
            if token is None and not exact:
                for held_key, candidate in self._tokens.items():
                    if _covers(held_key, scopes):
                        token = candidate
                        break
            if token is None:
                if not fetch:
                    return None
                token = self._fetch_token(sorted(key | set(extra)))
                self._tokens[key] = token
            if count:
                token.uses += 1
            return token.value

    def _http(self) -> httpx.Client:
        if self._client is not None:
            return self._client
        if self._own_client is None:
            import httpx

            self._own_client = httpx.Client(timeout=httpx.Timeout(30.0), follow_redirects=False)
        return self._own_client

    def _fetch_token(self, scopes: list[str]) -> Token:
        realm = self._bearer["realm"]
        service = self._bearer.get("service")
        check_realm(realm, self.registry, self.insecure)
        refresh_key = (realm, service or "")
        grant = self._token_client.fetch(
            realm,
            service,
            scopes,
            self.credentials,
            self._refresh_tokens.get(refresh_key),
            oauth=self.oauth,
        )
        if grant.refresh_token is None:
            self._refresh_tokens.pop(refresh_key, None)
        else:
            self._refresh_tokens[refresh_key] = grant.refresh_token
        return grant.token

    @property
    def token_fetches(self) -> int:
        """How many requests went to the realm (tests and metrics)."""
        return self._token_client.requests


__all__ = [
    "DEFAULT_TOKEN_SECONDS",
    "IDENTITY_TOKEN_USER",
    "Authenticator",
    "Challenge",
    "auth_error",
    "is_loopback",
    "parse_challenges",
    "registry_scope",
]
