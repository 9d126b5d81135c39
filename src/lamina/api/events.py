"""``GET /events``: the events lamina's commands record in the store (the CLI's and the
service's alike), streamed as docker streams them: the past ones asked for by ``since``,
then new ones as they come, until ``until`` or the client goes."""

from __future__ import annotations

import time

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.api.streams import Disconnected, Pipe, stream
from lamina.api.util import filter_args


def register(api: Api) -> None:
    api.route("GET", "/events")(events)


async def events(api: Api, req: Request, res: Response) -> None:
    from lamina.engine.events import EventFilter, parse_timestamp
    from lamina.errors import InvalidArgument

    try:
        since = parse_timestamp(req.arg("since")) if req.arg("since") else None
        until = parse_timestamp(req.arg("until")) if req.arg("until") else None
    except InvalidArgument as exc:
        raise HTTPError(400, exc.message) from None
    wanted = EventFilter(filter_args(req))

    def produce(pipe: Pipe) -> None:
        from lamina.engine.events import stream as event_stream

        def sleep(seconds: float) -> None:
            # between two looks at the log: a client that went away ends the stream here
            if pipe.gone.is_set():
                raise Disconnected()
            time.sleep(seconds)

        for event in event_stream(api.engine.store, since=since, until=until, filters=wanted,
                                  follow=True, sleep=sleep):
            pipe.emit(event.to_docker())

    await stream(api, res, produce, json_errors=False)
