"""``/v2/_catalog``: the repositories, paginated with ``n`` and ``last``."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from lamina.registry.authz import CATALOG
from lamina.registry.handlers.common import (
    DEFAULT_PAGE,
    authorize,
    json_response,
    next_link,
    page_size,
    registry_of,
)


async def list_repositories(request: Request) -> Response:
    await authorize(request, None, frozenset({CATALOG}))
    n = page_size(request)
    limit = DEFAULT_PAGE if n is None else n
    last = request.query_params.get("last") or None
    names = await registry_of(request).list_repositories(last, limit + 1)
    headers = {}
    if len(names) > limit:
        names = names[:limit]
        if names:  # n=0: an empty list and no Link, as the spec asks of tags/list
            headers["Link"] = next_link("/v2/_catalog", names[-1], limit)
    body = json.dumps({"repositories": names}, separators=(",", ":")).encode()
    return json_response(body, headers=headers)
