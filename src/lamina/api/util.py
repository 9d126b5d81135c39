"""Small pieces the routes share: docker's filters, registry auth headers, times, versions."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lamina.api.http import HTTPError, Request

if TYPE_CHECKING:
    from lamina.remote.options import RemoteOptions

GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def lamina_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lamina")
    except PackageNotFoundError:
        return "0.0.0"


def rfc3339(epoch: float) -> str:
    from lamina.model.units import format_rfc3339nano

    return format_rfc3339nano(epoch)


def body_object(body: Any) -> dict[str, Any]:
    """A JSON body that must be an object (an empty body is an empty object)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise HTTPError(400, "invalid JSON body: expected an object")
    return body


def filter_args(request: Request) -> dict[str, list[str]]:
    """``filters={"key": ["v", ...]}`` (or the old ``{"key": {"v": true}}``), as a dict."""
    raw = request.json_arg("filters")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise HTTPError(400, "invalid filter: filters must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, values in raw.items():
        if isinstance(values, dict):
            out[key] = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list):
            out[key] = [str(v) for v in values]
        else:
            raise HTTPError(400, f"invalid filter '{key}'")
    return out


def console_size(value: Any) -> list[int] | None:
    """``ConsoleSize`` ([height, width], the client's terminal): None for none given."""
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 65536
                       for v in value)):
        raise HTTPError(400, "invalid ConsoleSize: expected [height, width]")
    return value if value[0] and value[1] else None


def as_filter_strings(filters: dict[str, list[str]]) -> list[str]:
    """The CLI's ``key=value`` form, which the engine's filters parse and check."""
    return [f"{key}={value}" for key, values in filters.items() for value in values]


def decode_auth(header: str, name: str = "X-Registry-Auth") -> dict[str, Any] | None:
    """X-Registry-Auth: base64url JSON (username, password, serveraddress, identitytoken)."""
    if not header:
        return None
    text = header.strip()
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(data) if data.strip() else {}
    except ValueError:
        raise HTTPError(400, f"invalid {name} header: not base64 JSON") from None
    if not isinstance(value, dict):
        raise HTTPError(400, f"invalid {name} header: not a JSON object")
    return value


def options_with_auth(options: RemoteOptions, auth: dict[str, Any] | None) -> RemoteOptions:
    """The engine's remote options, trying the client's credentials first (docker's CLI
    sends what it has stored; lamina's own store answers otherwise)."""
    if not auth or not (auth.get("username") or auth.get("password")):
        return options
    from lamina.remote import credentials

    pair = (str(auth.get("username") or ""), str(auth.get("password") or ""))
    fallback = options.credentials or credentials.lookup

    def lookup(host: str) -> tuple[str, str] | None:
        return pair if pair[0] or pair[1] else fallback(host)

    return replace(options, credentials=lookup)


def options_with_registry_config(options: RemoteOptions, header: str) -> RemoteOptions:
    """X-Registry-Config (build): base64 JSON of {server: auth}, every credential the
    client has; each is tried first for its own registry (the base images' pulls)."""
    from lamina.remote import credentials

    value = decode_auth(header, "X-Registry-Config")
    pairs: dict[str, tuple[str, str]] = {}
    for server, auth in (value or {}).items():
        if not isinstance(auth, dict):
            raise HTTPError(400, "invalid X-Registry-Config header: an entry is not an "
                                 "object")
        user, secret = auth.get("username") or "", auth.get("password") or ""
        if auth.get("identitytoken"):
            user, secret = credentials.IDENTITY_TOKEN_USER, auth["identitytoken"]
        if user or secret:
            pairs[credentials.server_key(str(server))] = (str(user), str(secret))
    if not pairs:
        return options
    fallback = options.credentials or credentials.lookup

    def lookup(host: str) -> tuple[str, str] | None:
        return pairs.get(credentials.server_key(host)) or fallback(host)

    return replace(options, credentials=lookup)
