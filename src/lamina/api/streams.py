"""Answers that stream what a blocking engine call produces (pull and push progress, build
output, logs): the call runs in a thread and hands each piece to the event loop, which
writes it as a chunk. A client that goes away stops the producer at its next piece."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

from lamina.api.http import HTTPError, Response
from lamina.api.server import Api, error_status
from lamina.errors import LaminaError


def upload_errors() -> type[LaminaError]:
    """What an uploaded archive's refusal raises: a 400 (bad input), not a fault of ours."""
    from lamina.errors import IntegrityError

    return IntegrityError


class Disconnected(Exception):
    """The client went away: the producer stops."""


class Pipe:
    """From a producer thread to the writing coroutine, bounded so that a slow client slows
    the producer rather than filling memory."""

    def __init__(self, loop: asyncio.AbstractEventLoop, depth: int = 64) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(depth)
        self.gone = threading.Event()
        self.sent = False  # whether anything was put (a deferred head then goes out)

    def put(self, data: bytes | None) -> None:
        if self.gone.is_set():
            raise Disconnected()
        self.sent = self.sent or data is not None
        future = asyncio.run_coroutine_threadsafe(self.queue.put(data), self.loop)
        while True:
            try:
                future.result(timeout=0.5)
                return
            except TimeoutError:
                if self.gone.is_set():
                    future.cancel()
                    raise Disconnected() from None

    def emit(self, obj: dict[str, Any]) -> None:
        self.put(json.dumps(obj).encode() + b"\r\n")


async def stream(api: Api, res: Response, producer: Callable[[Pipe], None], *,
                 content_type: str = "application/json", json_errors: bool = True,
                 defer_head: bool = False) -> None:
    """Start a chunked answer and copy what ``producer`` puts until it returns. A failure
    after the answer has started becomes docker's ``{"errorDetail": ...}`` line.
    ``defer_head``: the answer starts with the first piece, so that a producer that fails
    before it puts anything gets a plain error answer (its status and message)."""
    loop = asyncio.get_running_loop()
    pipe = Pipe(loop)
    failure: list[BaseException] = []
    bad_input = upload_errors()

    def run() -> None:
        try:
            producer(pipe)
        except Disconnected:
            return
        except Exception as exc:
            if isinstance(exc, bad_input):  # an uploaded archive that is refused
                exc = HTTPError(400, exc.message)
            if defer_head and not res.started and not pipe.sent:
                failure.append(exc)
                return
            if not json_errors:
                raise
            _, message = error_status(exc)
            try:
                pipe.emit({"errorDetail": {"message": message}, "error": message})
            except Disconnected:
                return
        finally:
            with contextlib.suppress(Disconnected):
                pipe.put(None)

    if not defer_head:
        await res.start_stream(content_type)
    task = loop.run_in_executor(api.executor, run)
    try:
        while True:
            data = await pipe.queue.get()
            if data is None:
                break
            if not res.started:
                await res.start_stream(content_type)
            await res.chunk(data)
        if failure:
            raise failure[0]
        if not res.started:
            await res.start_stream(content_type)
        await res.end_stream()
    except (ConnectionError, OSError):
        pipe.gone.set()
        res.close_after = True
    finally:
        pipe.gone.set()
        # unblock a producer waiting on a full queue
        while not pipe.queue.empty():
            pipe.queue.get_nowait()
    await task
