"""What a registry's refusal says: the ``WWW-Authenticate`` challenges of a 401 (RFC 7235:
several challenges in one header or in several, quoted values holding commas and escapes,
token68), and the one-line error for a 401 or 403 a client could not get past."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lamina.errors import Denied, RegistryError, Unauthorized

if TYPE_CHECKING:
    import httpx


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


def error_message(body: bytes) -> str:
    """The first message of an OCI error body, or of an OAuth2 error, if the body has one."""
    try:
        parsed = json.loads(body[:65536])
    except ValueError:
        return ""
    if isinstance(parsed, dict):
        errs = parsed.get("errors")
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            message = errs[0].get("message") or errs[0].get("code")
            if isinstance(message, str) and message:
                return " ".join(message.split())[:300]
        for key in ("error_description", "error", "details", "message"):
            value = parsed.get(key)
            if isinstance(value, str) and value:
                return " ".join(value.split())[:300]
    return ""


def auth_error(registry: str, response: httpx.Response, body: bytes | None = None) -> RegistryError:
    """The one-line error for a 401 or 403 the client could not get past; ``body`` is the
    answer's body when the response was streamed (and so has no ``content``)."""
    if body is None:
        import httpx  # loaded already: the caller holds a response

        try:
            body = response.content
        except httpx.ResponseNotRead:
            body = b""
    message = error_message(body)
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


__all__ = ["Challenge", "auth_error", "error_message", "parse_challenges"]
