"""The API service: a unix (or TLS) socket, connections, the router, versions and errors.

Every route is ``async def handler(api, request, response)``; the engine's calls block, so
handlers run them in worker threads (``api.call``). One Engine (one store connection, safe
across threads) serves every request, as one CLI command would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from lamina.api.http import HTTPError, Request, Response, read_head
from lamina.errors import (
    Conflict,
    ContainerError,
    Denied,
    InvalidArgument,
    LaminaError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unsupported,
)

if TYPE_CHECKING:
    from lamina.engine import Engine

log = logging.getLogger("lamina.api")

# The versions served: docker-py's negotiation starts at its minimum (1.24), and docker CLI
# 28.2 speaks 1.50.
MIN_API_VERSION = "1.24"
API_VERSION = "1.50"

Handler = Callable[["Api", Request, Response], Awaitable[None]]
T = TypeVar("T")

Response.api_version = API_VERSION
ERROR_DRAIN_LIMIT = 16 * 1024 * 1024  # body bytes read (and dropped) before an error answer

_VERSIONED = re.compile(r"^/v([0-9]+(?:\.[0-9]+)?)(/.*)$")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


@dataclass
class Api:
    """The service's state: the engine, the routes, and what lives between requests (attach
    connections waiting for their container's start, exec instances)."""

    engine: Engine
    routes: list[Route] = field(default_factory=list)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=256, thread_name_prefix="api"))
    attaching: dict[str, Any] = field(default_factory=dict)  # container id -> AttachSession
    execs: dict[str, Any] = field(default_factory=dict)  # exec id -> ExecInstance
    ttys: dict[str, int] = field(default_factory=dict)  # container id -> its tty's master
    # container id -> the monitor's attach points connected for clients attached later
    attach_points: dict[str, list[socket.socket]] = field(default_factory=dict)
    # exits of containers started attached here: the attached side hears the exit code (the
    # monitor records none then), and /wait answers with it
    pumps: dict[str, asyncio.Future[int | None]] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # pumps of attached streams
    cache: dict[Any, tuple[Any, bytes]] = field(default_factory=dict)  # see images.list_images
    connections: int = 0
    writers: set[asyncio.StreamWriter] = field(default_factory=set)  # open connections
    last_activity: float = field(default_factory=time.monotonic)
    # Told when a container started, exited or went away here: a /wait that looks again
    # after a pause wakes at once instead (the pause still bounds what another process did).
    changes: threading.Condition = field(default_factory=threading.Condition)
    starting: set[str] = field(default_factory=set)  # containers a /start here is starting
    # Remakers of cached answers, run after a request that may have changed the store
    refreshers: list[Callable[[Api], None]] = field(default_factory=list)
    refreshing: bool = False
    refresh_again: bool = False
    server_header: str = "lamina (linux)"

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """Register a handler; ``{name}`` in the path is a parameter (``{name:path}`` may
        contain slashes, as image names do)."""
        def regex(match: re.Match[str]) -> str:
            name, _, kind = match.group(1).partition(":")
            return f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)"

        pattern = re.compile("^" + re.sub(r"\{([^}]+)\}", regex, path) + "$")

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, pattern, handler))
            return handler

        return register

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking engine call in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    def refresh_soon(self) -> None:
        """Run the refreshers in a worker (once at a time; once more if asked meanwhile)."""
        if not self.refreshers:
            return
        if self.refreshing:
            self.refresh_again = True
            return
        self.refreshing = True

        def run() -> None:
            try:
                while True:
                    self.refresh_again = False
                    for refresh in self.refreshers:
                        try:
                            refresh(self)
                        except Exception:  # a cache left stale is remade when next asked
                            log.debug("refreshing a cached answer failed", exc_info=True)
                    if not self.refresh_again:
                        return
            finally:
                self.refreshing = False

        try:
            self.executor.submit(run)
        except RuntimeError:  # shutting down
            self.refreshing = False

    def changed(self) -> None:
        """Wake every ``pause``: a container's state changed in this process."""
        with self.changes:
            self.changes.notify_all()

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds`` (in a worker thread), or until ``changed``."""
        with self.changes:
            self.changes.wait(seconds)

    # --- connections ------------------------------------------------------------------------
    async def serve_connection(self, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(writer)
        try:
            while True:
                self.last_activity = time.monotonic()
                try:
                    head = await read_head(reader)
                except HTTPError as exc:
                    await _plain_error(writer, exc)
                    return
                except (ConnectionError, OSError):
                    return
                if head is None:
                    return
                keep = await self.dispatch(*head, reader, writer)
                if not keep:
                    return
        finally:
            self.writers.discard(writer)
            self.connections -= 1
            self.last_activity = time.monotonic()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def dispatch(self, method: str, target: str, headers: dict[str, str],
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection may carry another."""
        try:
            request = Request(method, target, headers, reader, writer)
        except HTTPError as exc:
            await _plain_error(writer, exc)
            return False
        response = Response(request, self.server_header)
        if headers.get("connection", "").lower() == "close":
            response.close_after = True
        try:
            handler = self._resolve(request)
            try:
                await handler(self, request, response)
            finally:
                if method not in ("GET", "HEAD"):
                    self.refresh_soon()
        except ConnectionError:
            return False  # the client went away: nobody to answer
        except Exception as exc:  # every failure is answered in docker's shape, never a trace
            status, message = error_status(exc)
            if status >= 500 and not isinstance(exc, (LaminaError, HTTPError)):
                log.exception("%s %s failed", method, request.path)
            if request.hijacked:
                return False
            if response.started:
                # a streamed answer that failed half-way: the stream itself carries errors
                return False
            response.close_after = True
            # Read what is left of a (small) body first: a client that is still sending it
            # would otherwise meet a closed connection instead of the answer.
            with contextlib.suppress(HTTPError, ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(request.drain(limit=ERROR_DRAIN_LIMIT), 5.0)
            with contextlib.suppress(ConnectionError, OSError):
                await response.error(status, message)
            return False
        if request.hijacked or response.close_after:
            return False
        try:
            await request.drain()
        except HTTPError:
            return False
        return True

    def close_connections(self) -> None:
        """At shutdown: end every connection (idle keep-alive ones too), so that their
        handlers finish rather than being cancelled mid-way."""
        for writer in list(self.writers):
            writer.transport.abort()  # (a TLS close would wait for the peer's close_notify)

    def _resolve(self, request: Request) -> Handler:
        path = request.path
        match = _VERSIONED.match(path)
        if match:
            version, path = match.group(1), match.group(2)
            if "." not in version or _version_tuple(version) > _version_tuple(API_VERSION):
                raise HTTPError(400, f"client version {version} is too new. Maximum supported "
                                     f"API version is {API_VERSION}")
            if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
                raise HTTPError(400, f"client version {version} is too old. Minimum supported "
                                     f"API version is {MIN_API_VERSION}, please upgrade your "
                                     "client to a newer version")
            request.version = version
        else:
            request.version = API_VERSION
        methods_seen = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            methods_seen = True
            if route.method == request.method or (request.method == "HEAD"
                                                  and route.method == "GET"):
                request.params = found.groupdict()
                return route.handler
        if methods_seen:
            raise HTTPError(405, "method not allowed")
        raise HTTPError(404, "page not found")


def error_status(exc: BaseException) -> tuple[int, str]:
    """docker's status for a failure, and its message."""
    if isinstance(exc, HTTPError):
        return exc.status, exc.message
    if isinstance(exc, LaminaError):
        message = exc.message
        if isinstance(exc, NotFound):
            return 404, message
        if isinstance(exc, Conflict):
            return 409, message
        if isinstance(exc, InvalidArgument):
            return 400, message
        if isinstance(exc, Unauthorized):
            return 401, message
        if isinstance(exc, Denied):
            return 403, message
        if isinstance(exc, TooManyRequests):
            return 429, message
        if isinstance(exc, Unsupported):
            return 501, message
        if isinstance(exc, ContainerError):
            lowered = message.lower()
            if any(w in lowered for w in ("not running", "is paused", "already", "being removed",
                                          "is running", "in use", "stop the container")):
                return 409, message
            if exc.exit_code in (126, 127) or "no command" in lowered:
                return 400, message
        return 500, message
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        return 400, f"bad request: {exc}"
    return 500, f"internal error: {exc.__class__.__name__}: {exc}"


async def _plain_error(writer: asyncio.StreamWriter, exc: HTTPError) -> None:
    import json

    body = json.dumps({"message": exc.message}).encode() + b"\n"
    head = (f"HTTP/1.1 {exc.status} Bad Request\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    try:
        writer.write(head + body)
        await writer.drain()
    except (ConnectionError, OSError):
        pass
