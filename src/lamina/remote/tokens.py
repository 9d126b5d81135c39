"""Asking a token realm for a Bearer token (docker's token-auth scheme, and its OAuth2 form).

- ``GET realm?service=S&scope=A&scope=B`` with Basic credentials (and ``offline_token=true``,
  ``client_id=lamina``, to be given a refresh token), or with none for an anonymous token.
- ``POST realm`` with ``grant_type=refresh_token`` when a refresh token is held (an earlier
  answer's, or docker's ``identitytoken``), and ``grant_type=password`` when asked for; a realm
  without a POST endpoint (404, 405) gets the ``GET`` instead.

The answer is bounded in size and checked: a token, a lifetime (60 s when missing, as docker),
and maybe a refresh token. A refusal is one line naming the registry.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lamina.errors import Denied, RegistryError, TooManyRequests, TransportError, Unauthorized
from lamina.remote.challenge import error_message
from lamina.remote.options import is_loopback

if TYPE_CHECKING:
    import httpx

# docker's rule: a token answer without a lifetime is good for 60 seconds.
DEFAULT_TOKEN_SECONDS = 60
# docker's convention: a credential whose username is this holds an identity (refresh) token.
IDENTITY_TOKEN_USER = "<token>"
CLIENT_ID = "lamina"
MAX_TOKEN_ANSWER = 1024 * 1024
# issued_at is trusted only from a server whose clock agrees with ours this closely; otherwise
# the token's life is counted from when it arrived (a skewed clock must not expire it at once).
_CLOCK_SKEW = 60.0


@dataclass
class Token:
    value: str
    expires_at: float
    uses: int = 0


@dataclass(frozen=True)
class Grant:
    """A token, and the refresh token to keep afterwards (None: keep none)."""

    token: Token
    refresh_token: str | None


def basic_header(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def check_realm(realm: str, registry: str, insecure: bool) -> None:
    """Refuse a realm that may not be sent credentials: not HTTP(S), or plain HTTP that is
    neither on loopback nor named by a registry the user listed as insecure. A loopback
    registry is insecure only by default, which does not vouch for a realm elsewhere."""
    parts = urlsplit(realm)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Unauthorized(f"{registry}: the token realm {realm!r} is not an HTTP URL")
    trusted = is_loopback(parts.netloc) or (insecure and not is_loopback(registry))
    if parts.scheme == "http" and not trusted:
        raise Unauthorized(
            f"{registry}: refusing the token realm {realm}: it is plain HTTP",
            hint="A Bearer realm must use HTTPS unless the registry is marked insecure.",
        )


def _parse_time(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class TokenClient:
    """Fetches tokens for one registry over ``http()``; counts the requests it makes."""

    def __init__(
        self,
        registry: str,
        http: Callable[[], httpx.Client],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.http = http
        self.clock = clock
        self.requests = 0

    def fetch(
        self,
        realm: str,
        service: str | None,
        scopes: list[str],
        credentials: tuple[str, str] | None,
        refresh_token: str | None,
        *,
        oauth: bool = False,
    ) -> Grant:
        identity = credentials is not None and credentials[0] == IDENTITY_TOKEN_USER
        if refresh_token is None and identity and credentials is not None:
            refresh_token = credentials[1]
        if refresh_token is not None:
            form = self._form(
                service, scopes, grant_type="refresh_token", refresh_token=refresh_token
            )
            answer = self._post(realm, form, fallback=False)
            if answer is not None:
                return self._grant(answer, refresh_token)
            # Refused (expired, revoked) or no POST endpoint: the password may still do.
        if identity:
            raise Unauthorized(f"{self.registry}: unauthorized: the identity token was refused")
        if credentials is not None and oauth:
            form = self._form(
                service,
                scopes,
                grant_type="password",
                username=credentials[0],
                password=credentials[1],
                access_type="offline",
            )
            answer = self._post(realm, form, fallback=True)
            if answer is not None:
                return self._grant(answer, None)
        return self._grant(self._get(realm, service, scopes, credentials), None)

    @staticmethod
    def _form(service: str | None, scopes: list[str], **fields: str) -> dict[str, str]:
        form = {"client_id": CLIENT_ID, **fields}
        if service:
            form["service"] = service
        if scopes:
            form["scope"] = " ".join(scopes)
        return form

    def _get(
        self, realm: str, service: str | None, scopes: list[str], creds: tuple[str, str] | None
    ) -> dict[str, Any]:
        params: list[tuple[str, str]] = []
        if service:
            params.append(("service", service))
        params += [("scope", s) for s in scopes]
        headers = {}
        if creds is not None:
            params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
            headers["Authorization"] = basic_header(*creds)
        status, body, reason = self._request("GET", realm, params=params, headers=headers)
        return self._answer(status, body, reason, realm)

    def _post(self, realm: str, form: dict[str, str], *, fallback: bool) -> dict[str, Any] | None:
        """The answer to an OAuth2 POST; None when the realm has no POST endpoint, or (not
        ``fallback``) when it refuses a refresh token, so that the caller tries otherwise."""
        status, body, reason = self._request("POST", realm, data=form)
        if status in (404, 405) or (not fallback and status in (400, 401)):
            return None
        return self._answer(status, body, reason, realm)

    def _request(self, method: str, url: str, **kwargs: Any) -> tuple[int, bytes, str]:
        import httpx

        self.requests += 1
        try:
            with self.http().stream(method, url, **kwargs) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_TOKEN_ANSWER:
                        raise RegistryError(
                            f"{self.registry}: token server {url} sent an oversized answer"
                        )
                return response.status_code, body, response.reason_phrase
        except httpx.HTTPError as e:
            raise TransportError(f"{self.registry}: token server {url}: {e}") from e

    def _answer(self, status: int, body: bytes, reason: str, realm: str) -> dict[str, Any]:
        registry = self.registry
        if status != 200:
            message = error_message(body) or reason.lower() or f"HTTP {status}"
            if status == 401:
                raise Unauthorized(
                    f"{registry}: unauthorized: {message}", status=status, code="UNAUTHORIZED"
                )
            if status == 403:
                raise Denied(f"{registry}: denied: {message}", status=status, code="DENIED")
            if status == 429:
                raise TooManyRequests(
                    f"{registry}: toomanyrequests: {message}", status=status, code="TOOMANYREQUESTS"
                )
            raise RegistryError(
                f"{registry}: token server {realm} answered {status}: {message}", status=status
            )
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise RegistryError(f"{registry}: token server {realm} sent no JSON object")
        return parsed

    def _grant(self, body: dict[str, Any], used_refresh: str | None) -> Grant:
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{self.registry}: the token server's answer holds no token")
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = DEFAULT_TOKEN_SECONDS
        now = self.clock()
        issued = _parse_time(body.get("issued_at"))
        start = issued if issued is not None and abs(issued - now) <= _CLOCK_SKEW else now
        refresh = body.get("refresh_token")
        keep = refresh if isinstance(refresh, str) and refresh else used_refresh
        return Grant(Token(value, start + expires_in), keep)


__all__ = [
    "CLIENT_ID",
    "DEFAULT_TOKEN_SECONDS",
    "IDENTITY_TOKEN_USER",
    "Grant",
    "Token",
    "TokenClient",
    "basic_header",
    "check_realm",
]
