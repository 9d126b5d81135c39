"""Registry authentication: the ``WWW-Authenticate`` challenge, Basic, and Bearer tokens.

One ``Authenticator`` per registry host. The client sends a request after ``authorize`` has put
whatever it holds on it; on a 401 it calls ``handle_challenge`` and, if that says so, authorizes
the request again and retries once::

    auth = Authenticator("registry.example", credentials.lookup)
    scopes = [registry_scope("team/app", ["pull"])]
    auth.authorize(request, scopes)
    response = client.send(request)
    if response.status_code == 401 and auth.handle_challenge(response, scopes):
        auth.authorize(request, scopes)
        response = client.send(request)

Bearer tokens (docker's token-auth scheme) come from the challenge's realm: ``GET`` with Basic
credentials (or none, for an anonymous token), ``service``, one ``scope`` per scope,
``offline_token=true`` and ``client_id=lamina``; or the OAuth2 ``POST`` form with a refresh
token (kept from an earlier answer, or docker's ``identitytoken``), or with the password when
asked for (``oauth=True``), falling back to ``GET`` where the server has no POST endpoint.
Tokens are cached per set of scopes until they expire. Credentials are read once, lazily, and
sent only to the registry itself and to a realm that is HTTPS (or plain HTTP on loopback, or
for a registry the user marked insecure). ``Authorization`` is set only on requests to the
registry's own host, so a redirect elsewhere (a CDN, a bucket) never carries it.

httpx is imported lazily (only for types and a token client of our own), so that modules
importing this one stay light.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lamina.errors import Denied, RegistryError, TooManyRequests, TransportError, Unauthorized

if TYPE_CHECKING:
    import httpx

Credentials = Callable[[str], "tuple[str, str] | None"]

# docker's rule: a token answer without a lifetime is good for 60 seconds.
DEFAULT_TOKEN_SECONDS = 60
# A token is renewed this long before it expires, so a request never races the expiry.
_EXPIRY_MARGIN = 5.0
# docker's convention: a credential whose username is this holds an identity (refresh) token.
IDENTITY_TOKEN_USER = "<token>"
CLIENT_ID = "lamina"
_DOCKER_HUB_HOSTS = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_MAX_TOKEN_BODY = 1024 * 1024


def registry_scope(repository_path: str, actions: Sequence[str]) -> str:
    """``repository:team/app:pull,push`` — the scope of a token for a repository path."""
    return f"repository:{repository_path}:{','.join(actions)}"


# --- the WWW-Authenticate header ------------------------------------------------------------


@dataclass
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: a scheme (lower case) and its params."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


def _split_commas(text: str) -> list[str]:
    """Split on commas outside quoted strings (a realm or scope may hold commas)."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out: list[str] = []
        escaped = False
        for ch in value[1:-1]:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            else:
                out.append(ch)
        return "".join(out)
    return value


def _param(item: str) -> tuple[str, str] | None:
    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep or not name or " " in name or name.endswith('"'):
        return None
    if not value.strip().strip("="):  # "abc==" is a token68, not a param
        return None
    return name.lower(), _unquote(value)


def parse_challenges(headers: Sequence[str]) -> list[Challenge]:
    """Every challenge of one or more ``WWW-Authenticate`` header values (RFC 7235)."""
    challenges: list[Challenge] = []
    for header in headers:
        for item in _split_commas(header):
            head, _, rest = item.partition(" ")
            rest = rest.strip()
            if challenges and ("=" in head.partition('"')[0] or rest.startswith("=")):
                # "name=value": a parameter of the challenge being read.
                param = _param(item)
                if param is not None:
                    challenges[-1].params.setdefault(*param)
                continue
            current = Challenge(head.lower())
            challenges.append(current)
            if rest:
                param = _param(rest)
                if param is not None:
                    current.params.setdefault(*param)
                else:
                    current.token68 = rest
    return challenges


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


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``host`` may carry a port)."""
    name = hostname_of(_netloc(host))
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _same_registry(registry: str, netloc: str) -> bool:
    if registry == netloc:
        return True
    if hostname_of(registry) in _DOCKER_HUB_HOSTS:
        return hostname_of(netloc) in _DOCKER_HUB_HOSTS and netloc.count(":") == 0
    return False


# --- tokens -------------------------------------------------------------------------------


@dataclass
class _Token:
    value: str
    expires_at: float
    uses: int = 0


def _parse_time(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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
        self._tokens: dict[frozenset[str], _Token] = {}
        self._refresh_tokens: dict[tuple[str, str], str] = {}
        self.token_fetches = 0  # how many times a realm was asked (tests and metrics)

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
                request.headers["Authorization"] = _basic(*creds)
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
            return sent != _basic(*creds)
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

    def _check_realm(self, realm: str) -> None:
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Unauthorized(f"{self.registry}: the token realm {realm!r} is not an HTTP URL")
        # Plain HTTP is for a realm on loopback, or one named by a registry the user listed as
        # insecure. A loopback registry is insecure only by default, which does not vouch for a
        # plain-HTTP realm elsewhere on the network.
        trusted = is_loopback(parts.netloc) or (self.insecure and not is_loopback(self.registry))
        if parts.scheme == "http" and not trusted:
            raise Unauthorized(
                f"{self.registry}: refusing the token realm {realm}: it is plain HTTP",
                hint="A Bearer realm must use HTTPS unless the registry is marked insecure.",
            )

    def _fetch_token(self, scopes: list[str]) -> _Token:
        realm = self._bearer["realm"]
        service = self._bearer.get("service")
        self._check_realm(realm)
        creds = self.credentials
        refresh_key = (realm, service or "")
        refresh = self._refresh_tokens.get(refresh_key)
        if refresh is None and creds is not None and creds[0] == IDENTITY_TOKEN_USER:
            refresh = creds[1]
        if refresh is not None:
            form = self._oauth_form(
                service, scopes, grant_type="refresh_token", refresh_token=refresh
            )
            answer = self._post_token(realm, form)
            if answer is not None:
                return self._accept(answer, refresh_key)
            # The refresh token is refused or the server has no POST: the password may do.
            self._refresh_tokens.pop(refresh_key, None)
        if creds is not None and creds[0] == IDENTITY_TOKEN_USER:
            raise Unauthorized(f"{self.registry}: unauthorized: the identity token was refused")
        if creds is not None and self.oauth:
            form = self._oauth_form(
                service,
                scopes,
                grant_type="password",
                username=creds[0],
                password=creds[1],
                access_type="offline",
            )
            answer = self._post_token(realm, form, fallback=True)
            if answer is not None:
                return self._accept(answer, refresh_key)
        return self._accept(self._get_token(realm, service, scopes, creds), refresh_key)

    @staticmethod
    def _oauth_form(service: str | None, scopes: list[str], **fields: str) -> dict[str, str]:
        form = {"client_id": CLIENT_ID, **fields}
        if service:
            form["service"] = service
        if scopes:
            form["scope"] = " ".join(scopes)
        return form

    def _get_token(
        self, realm: str, service: str | None, scopes: list[str], creds: tuple[str, str] | None
    ) -> dict[str, Any]:
        params: list[tuple[str, str]] = []
        if service:
            params.append(("service", service))
        params += [("scope", s) for s in scopes]
        headers = {}
        if creds is not None:
            params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
            headers["Authorization"] = _basic(*creds)
        response = self._request("GET", realm, params=params, headers=headers)
        return self._token_answer(response, realm)

    def _post_token(
        self, realm: str, form: dict[str, str], *, fallback: bool = False
    ) -> dict[str, Any] | None:
        """The answer to an OAuth2 POST; None when the server has no POST endpoint (and
        ``fallback``) or refuses a refresh token (not ``fallback``: the caller tries GET)."""
        response = self._request("POST", realm, data=form)
        if response.status_code in (404, 405) or (
            not fallback and response.status_code in (400, 401)
        ):
            return None
        return self._token_answer(response, realm)

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        import httpx

        self.token_fetches += 1
        try:
            response = self._http().request(method, url, **kwargs)
            response.read()
        except httpx.HTTPError as e:
            raise TransportError(f"{self.registry}: token server {url}: {e}") from e
        return response

    def _token_answer(self, response: httpx.Response, realm: str) -> dict[str, Any]:
        status = response.status_code
        if status != 200:
            message = _error_message(response) or response.reason_phrase.lower()
            if status == 401:
                raise Unauthorized(
                    f"{self.registry}: unauthorized: {message}", status=status, code="UNAUTHORIZED"
                )
            if status == 403:
                raise Denied(f"{self.registry}: denied: {message}", status=status, code="DENIED")
            if status == 429:
                raise TooManyRequests(
                    f"{self.registry}: toomanyrequests: {message}",
                    status=status,
                    code="TOOMANYREQUESTS",
                )
            raise RegistryError(
                f"{self.registry}: token server {realm} answered {status}: {message}", status=status
            )
        if len(response.content) > _MAX_TOKEN_BODY:
            raise RegistryError(f"{self.registry}: token server {realm} sent an oversized answer")
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RegistryError(f"{self.registry}: token server {realm} sent no JSON object")
        return body

    def _accept(self, body: dict[str, Any], refresh_key: tuple[str, str]) -> _Token:
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{self.registry}: the token server's answer holds no token")
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = DEFAULT_TOKEN_SECONDS
        now = self._clock()
        issued = _parse_time(body.get("issued_at"))
        # A server clock ahead of ours must not stretch the token's life past what it said.
        start = min(issued, now) if issued is not None else now
        refresh = body.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh_tokens[refresh_key] = refresh
        return _Token(value, start + expires_in)


def _basic(user: str, secret: str) -> str:
    raw = f"{user}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _error_message(response: httpx.Response) -> str:
    """The first message of an OCI error body, or of an OAuth2 error, if the body has one."""
    try:
        body = json.loads(response.content[:65536])
    except ValueError:
        return ""
    if isinstance(body, dict):
        errs = body.get("errors")
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            message = errs[0].get("message") or errs[0].get("code")
            if isinstance(message, str):
                return message.splitlines()[0][:300] if message else ""
        for key in ("error_description", "error", "details", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value.splitlines()[0][:300]
    return ""


def auth_error(registry: str, response: httpx.Response) -> RegistryError:
    """The one-line error for a 401 or 403 the client could not get past."""
    message = _error_message(response)
    if response.status_code == 403:
        return Denied(
            f"{registry}: denied: {message or 'requested access to the resource is denied'}",
            status=403,
            code="DENIED",
        )
    return Unauthorized(
        f"{registry}: unauthorized: {message or 'authentication required'}",
        status=response.status_code,
        code="UNAUTHORIZED",
    )


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
