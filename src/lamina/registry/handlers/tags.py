"""``/v2/<name>/tags/list`` (end-8a, end-8b): tags in lexical order, with ``n``, ``last``
and a ``Link`` header to the next page."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from lamina.registry.handlers.common import (
    PULL,
    authorize,
    json_response,
    next_link,
    page_size,
    registry_of,
    repository,
)


async def list_tags(request: Request) -> Response:
    name = repository(request)
    await authorize(request, name, PULL)
    n = page_size(request)
    last = request.query_params.get("last") or None
    tags = await registry_of(request).list_tags(name, last, None if n is None else n + 1)
    headers = {}
    if n is not None and len(tags) > n:
        tags = tags[:n]
        if tags:
            headers["Link"] = next_link(f"/v2/{name}/tags/list", tags[-1], n)
    body = json.dumps({"name": name, "tags": tags}, separators=(",", ":")).encode()
    return json_response(body, headers=headers)
