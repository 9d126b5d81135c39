"""``GET /events``: served from the events lamina's commands record in the store."""

from __future__ import annotations

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api


def register(api: Api) -> None:
    api.route("GET", "/events")(events)


async def events(api: Api, req: Request, res: Response) -> None:
    raise HTTPError(501, "events are not recorded by this lamina yet")
