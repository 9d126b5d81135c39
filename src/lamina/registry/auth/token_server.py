"""The ``/token`` endpoint: the registry as its own token server (Docker token-auth scheme).

- ``GET /token?service=S&scope=repository:team/app:pull,push[&scope=...][&offline_token=true]``
  with Basic credentials, or none for an anonymous token. Answers
  ``{"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]}``.
- ``POST /token`` with the OAuth2 form: ``grant_type=password`` (username, password) or
  ``grant_type=refresh_token`` (refresh_token), plus service, client_id, scope (space separated)
  and ``access_type=offline`` for a refresh token. Answers
  ``{"access_token", "scope", "expires_in", "issued_at"[, "refresh_token"]}``.

What a token grants is the requested scopes cut down by the access list. A scope the account
may not have is not an error: it is left out of the token, and the registry then refuses the
request that needed it, as the spec says.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.responses import Response

from lamina.errors import InvalidArgument, Unauthorized
from lamina.registry.auth.access import AccessList, Scope, parse_scopes
from lamina.registry.auth.authorizers import basic_credentials, check_basic
from lamina.registry.auth.htpasswd import Htpasswd
from lamina.registry.auth.token import TokenAuthority

if TYPE_CHECKING:
    from starlette.requests import Request

_MAX_FORM_BYTES = 64 * 1024


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    # Tokens must never be cached by a proxy (RFC 6749 section 5.1).
    all_headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=all_headers,
    )


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return _json({"error": error, "error_description": description}, status)


class TokenEndpoint:
    """The handlers of GET and POST ``/token``; route ``handle``."""

    def __init__(
        self,
        authority: TokenAuthority,
        access: AccessList,
        htpasswd: Htpasswd | None,
        *,
        realm: str,
    ) -> None:
        self.authority = authority
        self.access = access
        self.htpasswd = htpasswd
        self.realm = realm

    def _unauthorized(self, message: str) -> Response:
        body = {"errors": [{"code": "UNAUTHORIZED", "message": message}]}
        realm = self.realm.replace('"', "")
        return _json(body, 401, {"WWW-Authenticate": f'Basic realm="{realm}"'})

    async def _login(self, user: str, password: str) -> bool:
        return self.htpasswd is not None and await check_basic(self.htpasswd, user, password)

    def _known(self, account: str) -> bool:
        return self.htpasswd is not None and account in self.htpasswd.users()

    def _service_ok(self, service: str | None) -> bool:
        return service is None or service == self.authority.service

    def _grant(self, account: str | None, scopes: list[Scope]) -> list[Scope]:
        return [self.access.grant(account, s) for s in scopes]

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post(request)
        return await self.get(request)

    async def get(self, request: Request) -> Response:
        params = request.query_params
        if not self._service_ok(params.get("service")):
            return _oauth_error("invalid_request", "unknown service")
        try:
            scopes = parse_scopes(params.getlist("scope"))
        except InvalidArgument as e:
            return _oauth_error("invalid_scope", e.message)
        account: str | None = None
        header = request.headers.get("authorization")
        if header is not None:
            creds = basic_credentials(header)
            if creds is None or not await self._login(*creds):
                return self._unauthorized("invalid username or password")
            account = creds[0]
            request.state.account = account
        issued = self.authority.issue(account, self._grant(account, scopes))
        body: dict[str, Any] = {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
        }
        if account is not None and params.get("offline_token") == "true":
            body["refresh_token"] = self.authority.issue_refresh(account)
        return _json(body)

    async def post(self, request: Request) -> Response:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > _MAX_FORM_BYTES:
                return _oauth_error("invalid_request", "form too large")
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if not self._service_ok(form.get("service")):
            return _oauth_error("invalid_request", "unknown service")
        try:
            scopes = parse_scopes([form.get("scope", "")])
        except InvalidArgument as e:
            return _oauth_error("invalid_scope", e.message)
        grant_type = form.get("grant_type")
        refresh: str | None = None
        if grant_type == "password":
            user, password = form.get("username", ""), form.get("password", "")
            if not user or not await self._login(user, password):
                return self._unauthorized("invalid username or password")
            account = user
            if form.get("access_type") == "offline":
                refresh = self.authority.issue_refresh(account)
        elif grant_type == "refresh_token":
            try:
                account = self.authority.verify_refresh(form.get("refresh_token", ""))
            except Unauthorized as e:
                return self._unauthorized(e.message)
            # A user removed from the htpasswd file loses access at the next refresh.
            if not self._known(account):
                return self._unauthorized("the account no longer exists")
            refresh = form.get("refresh_token")
        else:
            return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}")
        request.state.account = account
        granted = self._grant(account, scopes)
        issued = self.authority.issue(account, granted)
        body: dict[str, Any] = {
            "access_token": issued.token,
            "scope": " ".join(str(s) for s in granted if s.actions),
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return _json(body)
