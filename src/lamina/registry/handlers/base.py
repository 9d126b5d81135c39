"""``/v2/``: the API version check (end-1), and the health endpoint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lamina.registry.handlers.common import authorize, json_response


async def version_check(request: Request) -> Response:
    await authorize(request, None, frozenset())
    return json_response(b"{}")
