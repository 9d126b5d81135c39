"""What every handler does alike: find the registry, check the name, authorize, answer.

Not a resource itself; the resources are the sibling modules, one each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.responses import Response

from lamina.registry.errors import ParameterInvalid, ReadOnly
from lamina.registry.service import validate_name

if TYPE_CHECKING:
    from starlette.requests import Request

    from lamina.registry.authz import Authorizer
    from lamina.registry.service import Registry

JSON = "application/json"
PULL = frozenset({"pull"})
PUSH = frozenset({"pull", "push"})
DELETE = frozenset({"delete"})
# The largest page a list endpoint answers when the client gives no ``n``.
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000  # the most results one page holds, whatever ``n`` asks


def registry_of(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def authorize(request: Request, repository: str | None, actions: frozenset[str]) -> None:
    authorizer: Authorizer = request.app.state.authorizer
    await authorizer.authorize(request, repository, actions)


def repository(request: Request) -> str:
    return validate_name(request.path_params["name"])


def require_writable(request: Request) -> None:
    """Refuse writes in read-only mode, as distribution does: 405 UNSUPPORTED."""
    if registry_of(request).config.read_only:
        raise ReadOnly("the registry is in read-only mode")


def empty(status: int, headers: Mapping[str, str] | None = None) -> Response:
    out = {"Content-Length": "0"}
    out.update(headers or {})
    return Response(b"", status_code=status, headers=out)


def json_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None, media_type: str = JSON
) -> Response:
    return Response(body, status_code=status, headers=dict(headers or {}), media_type=media_type)


def page_size(request: Request) -> int | None:
    """The ``n`` query parameter: None when absent; a bad value is the client's error.

    Only ASCII digits make a number (``str.isdigit`` takes "²" and other Unicode digits that
    ``int`` refuses). A page is at most ``MAX_PAGE``: the spec lets a registry answer fewer
    than ``n`` results when it sends a ``Link`` to the rest, and a larger number would not
    fit the database's integers (or, thousands of digits long, Python's int conversion).
    """
    text = request.query_params.get("n")
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()):
        raise ParameterInvalid(f"invalid page size n={text[:64]!r}")
    digits = text.lstrip("0") or "0"
    return MAX_PAGE if len(digits) > len(str(MAX_PAGE)) else min(int(digits), MAX_PAGE)


def next_link(path: str, last: str, n: int, extra: Mapping[str, Any] | None = None) -> str:
    query = urlencode({**(extra or {}), "last": last, "n": n})
    return f'<{path}?{query}>; rel="next"'


def content_length(request: Request) -> int | None:
    text = request.headers.get("content-length")
    if text is None or not text.isdigit():
        return None
    return int(text)


def has_body(request: Request) -> bool:
    length = content_length(request)
    if length is not None:
        return length > 0
    return "chunked" in request.headers.get("transfer-encoding", "").lower()
