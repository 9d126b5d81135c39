"""``/v2/<name>/blobs/<digest>``: pull (end-2), with Range requests, and delete (end-10).

A blob streams from storage in large chunks read by worker threads, so memory stays flat
whatever its size. A blob is served only through a repository that links it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import BinaryIO

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lamina.registry.errors import RangeInvalid
from lamina.registry.handlers.common import (
    DELETE,
    PULL,
    authorize,
    empty,
    registry_of,
    repository,
    require_writable,
)
from lamina.registry.service import parse_digest

CHUNK = 4 << 20
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


class BlobResponse(Response):
    """Streams ``length`` bytes of an open file, then closes it."""

    def __init__(
        self, file: BinaryIO, length: int, status_code: int, headers: Mapping[str, str]
    ) -> None:
        self.file = file
        self.length = length
        self.status_code = status_code
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Read the next chunk (in a thread) while the last one goes out: disk and socket
        # overlap, with at most two chunks in memory.
        chunks, incoming = anyio.create_memory_object_stream[bytes](1)

        async def read() -> None:
            async with chunks:
                remaining = self.length
                while remaining > 0:
                    chunk = await anyio.to_thread.run_sync(self.file.read, min(CHUNK, remaining))
                    if not chunk:
                        return  # truncated on disk; the client sees a short body and retries
                    remaining -= len(chunk)
                    await chunks.send(chunk)

        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            sent = 0
            async with anyio.create_task_group() as group, incoming:
                group.start_soon(read)
                async for chunk in incoming:
                    sent += len(chunk)
                    more = sent < self.length
                    await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if sent < self.length or self.length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.file.close()


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single byte range; None if ignored; 416 if unsatisfiable."""
    match = _RANGE.fullmatch(header)
    if match is None:
        return None  # multiple ranges or another unit: answer with the whole blob
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return None
    elif last:
        start, end = max(size - int(last), 0), size
    else:
        return None
    if start >= size or start >= end:
        raise RangeInvalid(
            f"range {header.strip()} is outside the blob of {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


async def get_blob(request: Request) -> Response:
    name = repository(request)
    await authorize(request, name, PULL)
    digest = parse_digest(request.path_params["digest"])
    registry = registry_of(request)
    found = await registry.find_blob(name, digest)
    if found.raw is not None:
        headers = {"Docker-Content-Digest": digest, "Content-Length": str(found.size)}
        body = b"" if request.method == "HEAD" else found.raw
        return Response(body, headers=headers, media_type="application/octet-stream")
    assert found.key is not None
    size = found.size
    headers = {
        "Docker-Content-Digest": digest,
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
    if request.method == "GET" and (url := registry.blob_url(found.key)) is not None:
        # As distribution's redirect option: the client fetches the bytes from the store.
        return empty(307, {"Location": url, "Docker-Content-Digest": digest})
    start, end, status = 0, size, 200
    range_header = request.headers.get("range")
    if range_header is not None:
        parsed = _parse_range(range_header, size)
        if parsed is not None:
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(b"", status_code=status, headers=headers)
    file = await registry.open_blob(found.key, start)
    return BlobResponse(file, end - start, status, headers)


async def delete_blob(request: Request) -> Response:
    require_writable(request)
    name = repository(request)
    await authorize(request, name, DELETE)
    digest = parse_digest(request.path_params["digest"])
    await registry_of(request).delete_blob(name, digest)
    return empty(202, {"Docker-Content-Digest": digest})
