"""A small HTTP/1.1 server on asyncio streams, for the Docker Engine API.

Why not starlette and uvicorn, which the registry uses: docker's attach and exec start
"hijack" the connection (``Upgrade: tcp``) and then speak raw bytes both ways on it, and ASGI
has no way to hand the raw connection to the application. Serving only those routes with a
second server beside an ASGI app would mean two request parsers and two routers for one
socket. The API's requests are simple (JSON bodies, tar uploads, streamed answers), so one
server of our own serves every route, with bounded headers and bodies.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_JSON_BODY = 1024 * 1024
# A tar upload (build context, load, archive) is spooled to disk: it may be large, but a body
# that never ends must not fill the disk.
SPACE_CHECK_EVERY = 16 * 1024 * 1024
MIN_FREE_SPACE = 1024 * 1024 * 1024  # create, exec, ... bodies: docker's own are a few KiB
HEADER_TIMEOUT = 60.0  # a client that never finishes its headers is let go
BODY_IDLE_TIMEOUT = 60.0  # nor one whose body stalls this long

REASONS = {
    101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 411: "Length Required",
    413: "Request Entity Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}


class HTTPError(Exception):
    """An answer in docker's error shape: ``{"message": ...}`` with a status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    """One request: its line and headers, read; its body, read on demand."""

    def __init__(self, method: str, target: str, headers: dict[str, str],
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.method = method
        parts = urlsplit(target)
        self.path = unquote(parts.path)
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.reader = reader
        self.writer = writer
        self.version = ""  # the API version the client asked for (set by the router)
        self.params: dict[str, str] = {}  # the route's path parameters
        self._remaining: int | None = None
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        length = headers.get("content-length")
        if length is not None and not self._chunked:
            if not length.isdigit():
                raise HTTPError(400, f"invalid Content-Length: {length}")
            self._remaining = int(length)
        elif not self._chunked:
            self._remaining = 0
        self._done = self._remaining == 0
        self.hijacked = False

    # --- query parameters, as docker reads them -------------------------------------------
    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """docker's boolean form: absent is the default; "", "0", "false", "no" are false."""
        if name not in self.query:
            return default
        return self.arg(name).lower() not in ("", "0", "false", "no", "off")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        text = self.arg(name)
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {text!r} is not an integer") from None

    def json_arg(self, name: str) -> Any:
        text = self.arg(name)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise HTTPError(400, f"invalid {name} parameter: not JSON") from None

    # --- the body ---------------------------------------------------------------------------
    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, as it arrives (Content-Length or chunked); a stalled body is an error."""
        while not self._done:
            if self._chunked:
                line = await self._read(self.reader.readuntil(b"\r\n"))
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise HTTPError(400, "malformed chunked body") from None
                if size == 0:
                    # trailers, up to the empty line
                    while (await self._read(self.reader.readuntil(b"\r\n"))) != b"\r\n":
                        pass
                    self._done = True
                    return
                while size:
                    data = await self._read(self.reader.read(min(size, 1 << 16)))
                    if not data:
                        raise HTTPError(400, "the body ended early")
                    size -= len(data)
                    yield data
                if await self._read(self.reader.readexactly(2)) != b"\r\n":
                    raise HTTPError(400, "malformed chunked body")
            else:
                assert self._remaining is not None
                data = await self._read(self.reader.read(min(self._remaining, 1 << 16)))
                if not data:
                    raise HTTPError(400, "the body ended early")
                self._remaining -= len(data)
                self._done = self._remaining == 0
                yield data

    async def _read(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, BODY_IDLE_TIMEOUT)
        except TimeoutError:
            raise HTTPError(400, "the request body stalled") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise HTTPError(400, "malformed request body") from None

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for data in self.chunks():
            size += len(data)
            if size > limit:
                raise HTTPError(413, f"request body too large (over {limit} bytes)")
            parts.append(data)
        return b"".join(parts)

    async def json(self, limit: int = MAX_JSON_BODY) -> Any:
        data = await self.body(limit)
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise HTTPError(400, f"invalid JSON body: {exc}") from None

    async def spool(self, directory: str | None = None) -> IO[bytes]:
        """The body in a temporary file (a tar upload: it may be large), at its start."""
        f = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - the caller closes it
        try:
            size = checked = 0
            async for data in self.chunks():
                await asyncio.to_thread(f.write, data)
                size += len(data)
                if size - checked >= SPACE_CHECK_EVERY:
                    checked = size
                    free = shutil.disk_usage(directory or tempfile.gettempdir()).free
                    if free < MIN_FREE_SPACE:
                        raise HTTPError(413, "the upload would fill the disk: refused "
                                             f"after {size} bytes")
            f.seek(0)
        except BaseException:
            f.close()
            raise
        return f

    async def drain(self, limit: int | None = None) -> None:
        """Read and drop what is left of the body, so the connection can carry another
        (up to ``limit`` bytes: more is an error)."""
        size = 0
        async for data in self.chunks():
            size += len(data)
            if limit is not None and size > limit:
                raise HTTPError(413, "request body too large")


class Response:
    """Writes an answer: whole, streamed (chunked), or the head of a hijacked stream."""

    api_version = ""  # the server's (maximum) version, sent on every answer as dockerd does

    def __init__(self, request: Request, server_header: str) -> None:
        self.request = request
        self.writer = request.writer
        self.server_header = server_header
        self.started = False
        self.close_after = False

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}"]
        base = {"Server": self.server_header, "Api-Version": self.api_version,
                "Docker-Experimental": "false", "Ostype": "linux"}
        for key, value in {**base, **headers}.items():
            if value != "":
                lines.append(f"{key}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(self, status: int, body: bytes = b"", content_type: str = "application/json",
                   headers: dict[str, str] | None = None) -> None:
        self.started = True
        extra = {"Content-Type": content_type, "Content-Length": str(len(body)),
                 **(headers or {})}
        if self.close_after:
            extra["Connection"] = "close"
        head = self._head(status, extra)
        # One write, one send: the head alone would go out in a send of its own, and the
        # client would wake for it before the body came.
        self.writer.write(head + body if self.request.method != "HEAD" else head)
        await self.writer.drain()

    async def json(self, obj: Any, status: int = 200) -> None:
        await self.send(status, json.dumps(obj).encode() + b"\n")

    async def empty(self, status: int = 204) -> None:
        self.started = True
        extra = {"Connection": "close"} if self.close_after else {}
        if status != 204:
            extra["Content-Length"] = "0"
        self.writer.write(self._head(status, extra))
        await self.writer.drain()

    async def error(self, status: int, message: str) -> None:
        await self.send(status, json.dumps({"message": message}).encode() + b"\n")

    async def start_stream(self, content_type: str = "application/json", status: int = 200,
                           headers: dict[str, str] | None = None) -> None:
        self.started = True
        extra = {"Content-Type": content_type, "Transfer-Encoding": "chunked", **(headers or {})}
        self.writer.write(self._head(status, extra))
        await self.writer.drain()

    async def chunk(self, data: bytes) -> None:
        if data:
            self.writer.write(b"%x\r\n%b\r\n" % (len(data), data))
            await self.writer.drain()

    async def end_stream(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    async def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> None:
        """Answer 101 (or 200 to a client that did not ask to upgrade) and hand the connection
        over to raw bytes: after this, nothing else is read or written as HTTP on it."""
        self.started = True
        self.request.hijacked = True
        upgrade = self.request.headers.get("upgrade", "")
        if upgrade:
            head = self._head(101, {"Content-Type": content_type, "Connection": "Upgrade",
                                    "Upgrade": upgrade})
        else:
            head = self._head(200, {"Content-Type": content_type})
        self.writer.write(head)
        await self.writer.drain()


async def read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    """The request line and headers (lower-case names); None at a clean end of connection."""
    try:
        data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEADER_TIMEOUT)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HTTPError(400, "incomplete request") from None
    except asyncio.LimitOverrunError:
        raise HTTPError(431, "request headers too large") from None
    except TimeoutError:
        return None
    lines = data.decode("latin-1").split("\r\n")
    while lines and not lines[0]:
        lines.pop(0)  # stray blank lines between requests
    if not lines:
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HTTPError(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HTTPError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers
