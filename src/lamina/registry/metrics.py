"""Operations: Prometheus metrics at ``/metrics`` and one JSON access-log line per request.

``MetricsMiddleware`` wraps the registry app (pure ASGI, so it sees the bytes as they stream and
adds no copy). It counts requests by method, route template and status, request and response
bytes by route, and a duration histogram by route. Route templates, not paths, are the labels,
so the number of series stays bounded whatever the clients ask for.

The counters of all the workers of one server add up: forked workers count into slots of one
table in shared memory, and a scrape of any worker sums them (see ``Metrics``). A single
process counts on its own. The number of upload sessions in progress is not counted at all: it
is read from the metadata database at scrape time, so it is right across workers and replicas.
Replicas on other hosts are scraped one by one, as Prometheus does.

The access log line holds time, method, path (without the query string, which may carry a
token), route, status, bytes in and out, duration, remote address and the account, never any
credential.
"""

from __future__ import annotations

import bisect
import json
import logging
import mmap
import os
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UploadCounter = Callable[[], Awaitable[int]]

access_log = logging.getLogger("lamina.registry.access")
log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
# Most specific first: an upload path also ends in /blobs/...
_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"/v2/?", "/v2/"),
        (r"/v2/_catalog", "/v2/_catalog"),
        (rf"/v2/{_NAME}/manifests/[^/]+", "/v2/{name}/manifests/{reference}"),
        (rf"/v2/{_NAME}/blobs/uploads/?", "/v2/{name}/blobs/uploads/"),
        (rf"/v2/{_NAME}/blobs/uploads/[^/]+", "/v2/{name}/blobs/uploads/{uuid}"),
        (rf"/v2/{_NAME}/blobs/[^/]+", "/v2/{name}/blobs/{digest}"),
        (rf"/v2/{_NAME}/tags/list", "/v2/{name}/tags/list"),
        (rf"/v2/{_NAME}/referrers/[^/]+", "/v2/{name}/referrers/{digest}"),
        (r"/token", "/token"),
        (re.escape(METRICS_PATH), METRICS_PATH),
    )
)


def route_template(path: str) -> str:
    """The route a path belongs to, as a label: ``/v2/{name}/manifests/{reference}``."""
    for pattern, template in _ROUTES:
        if pattern.fullmatch(path):
            return template
    return "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


ROUTES: tuple[str, ...] = (*(template for _, template in _ROUTES), "other")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other")
# Every status the registry answers with; anything else is counted as "other".
STATUSES = (
    "200", "201", "202", "204", "206", "304", "307", "400", "401", "403", "404", "405", "406",
    "409", "411", "413", "414", "415", "416", "422", "429", "431", "500", "502", "503", "504",
    "other",
)  # fmt: skip
_ROUTE_INDEX = {r: i for i, r in enumerate(ROUTES)}
_METHOD_INDEX = {m: i for i, m in enumerate(METHODS)}
_STATUS_INDEX = {int(s): i for i, s in enumerate(STATUSES) if s != "other"}
_NR, _NM, _NS, _NB = len(ROUTES), len(METHODS), len(STATUSES), len(_BUCKETS)
# One slot of unsigned 64-bit counters per worker, laid out as:
_REQUESTS = 0  # [route][method][status]
_BYTES_IN = _REQUESTS + _NR * _NM * _NS  # [route]
_BYTES_OUT = _BYTES_IN + _NR  # [route]
_BUCKET = _BYTES_OUT + _NR  # [route][bucket], not cumulative
_COUNT = _BUCKET + _NR * _NB  # [route]
_SUM_US = _COUNT + _NR  # [route], microseconds
_IN_FLIGHT = _SUM_US + _NR
SLOT_WORDS = _IN_FLIGHT + 1
SLOT_BYTES = SLOT_WORDS * 8


def shared_buffer(slots: int) -> mmap.mmap:
    """Anonymous shared memory for ``slots`` workers; forked children write into it."""
    return mmap.mmap(-1, slots * SLOT_BYTES)


class Metrics:
    """Counters in a table of slots, one slot per worker process.

    Each worker only ever writes its own slot (from its event loop thread, so without locks),
    and a scrape on any worker adds up every slot: the figures are those of the whole server,
    whichever worker answers. Forked workers share the table through anonymous shared memory
    (``shared_buffer``); a single process uses a private one. A restarted worker takes over
    its predecessor's slot, so counters only go up.
    """

    def __init__(self, buffer: mmap.mmap | bytearray | None = None, slot: int = 0) -> None:
        self.buffer = buffer if buffer is not None else bytearray(SLOT_BYTES)
        self.table = memoryview(self.buffer).cast("Q")
        self.slots = len(self.table) // SLOT_WORDS
        if not 0 <= slot < self.slots:
            raise ValueError(f"metrics slot {slot} outside 0..{self.slots - 1}")
        self.base = slot * SLOT_WORDS

    @property
    def in_flight(self) -> int:
        return self._total(_IN_FLIGHT)

    def enter(self) -> None:
        self.table[self.base + _IN_FLIGHT] += 1

    def leave(self) -> None:
        self.table[self.base + _IN_FLIGHT] -= 1

    def observe(
        self, method: str, route: str, status: int, bytes_in: int, bytes_out: int, seconds: float
    ) -> None:
        t, base = self.table, self.base
        r = _ROUTE_INDEX.get(route, _NR - 1)
        m = _METHOD_INDEX.get(method, _NM - 1)
        st = _STATUS_INDEX.get(status, _NS - 1)
        t[base + _REQUESTS + (r * _NM + m) * _NS + st] += 1
        t[base + _BYTES_IN + r] += bytes_in
        t[base + _BYTES_OUT + r] += bytes_out
        b = bisect.bisect_left(_BUCKETS, seconds)
        if b < _NB:
            t[base + _BUCKET + r * _NB + b] += 1
        t[base + _COUNT + r] += 1
        t[base + _SUM_US + r] += int(seconds * 1e6)

    def _total(self, offset: int) -> int:
        t = self.table
        return sum(t[slot * SLOT_WORDS + offset] for slot in range(self.slots))

    def render(self, upload_sessions: int | None) -> str:
        """The Prometheus text exposition format, version 0.0.4, summed over all workers."""
        totals = [0] * SLOT_WORDS
        for slot in range(self.slots):
            row = self.table[slot * SLOT_WORDS : (slot + 1) * SLOT_WORDS]
            totals = [a + b for a, b in zip(totals, row, strict=True)]
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        name = "lamina_registry_http_requests_total"
        family(name, "counter", "HTTP requests answered, by method, route and status.")
        for r, route in enumerate(ROUTES):
            for m, method in enumerate(METHODS):
                for st, status in enumerate(STATUSES):
                    n = totals[_REQUESTS + (r * _NM + m) * _NS + st]
                    if n:
                        labels = f'method="{method}",route="{_escape(route)}",status="{status}"'
                        out.append(f"{name}{{{labels}}} {n}")
        for name, offset, help_ in (
            ("lamina_registry_http_request_bytes_total", _BYTES_IN, "Request body bytes"),
            ("lamina_registry_http_response_bytes_total", _BYTES_OUT, "Response body bytes"),
        ):
            family(name, "counter", help_ + ", by route.")
            for r, route in enumerate(ROUTES):
                if totals[_COUNT + r]:
                    out.append(f'{name}{{route="{_escape(route)}"}} {totals[offset + r]}')
        name = "lamina_registry_http_request_duration_seconds"
        family(name, "histogram", "Time to answer a request, by route.")
        for r, route in enumerate(ROUTES):
            count = totals[_COUNT + r]
            if not count:
                continue
            label = f'route="{_escape(route)}"'
            cumulative = 0
            for b, bound in enumerate(_BUCKETS):
                cumulative += totals[_BUCKET + r * _NB + b]
                out.append(f'{name}_bucket{{{label},le="{bound}"}} {cumulative}')
            out.append(f'{name}_bucket{{{label},le="+Inf"}} {count}')
            out.append(f"{name}_sum{{{label}}} {totals[_SUM_US + r] / 1e6:.6f}")
            out.append(f"{name}_count{{{label}}} {count}")
        family("lamina_registry_http_requests_in_flight", "gauge", "Requests being answered.")
        out.append(f"lamina_registry_http_requests_in_flight {totals[_IN_FLIGHT]}")
        if upload_sessions is not None:
            family(
                "lamina_registry_upload_sessions",
                "gauge",
                "Blob upload sessions in progress (from the metadata database).",
            )
            out.append(f"lamina_registry_upload_sessions {upload_sessions}")
        return "\n".join(out) + "\n"


_SHARED: Metrics | None = None


def use_shared(buffer: mmap.mmap, slot: int) -> None:
    """Make the apps this worker builds count into ``slot`` of the shared table."""
    global _SHARED
    _SHARED = Metrics(buffer, slot)


def shared_metrics() -> Metrics | None:
    """The shared table this worker counts into, if it is one of several forked workers."""
    return _SHARED


class MetricsMiddleware:
    """Counts every request, serves ``/metrics`` and writes the access log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        upload_sessions: UploadCounter | None = None,
        log_requests: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.upload_sessions = upload_sessions
        self.log_requests = log_requests
        # An app counts on its own unless given a shared table: in-process apps stay apart.
        self.metrics = metrics or Metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == METRICS_PATH and scope["method"] in ("GET", "HEAD"):
            handler: ASGIApp = self._serve_metrics
        else:
            handler = self.app
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        counts = [0, 0]  # bytes in, bytes out
        status = 500
        self.metrics.enter()

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                counts[0] += len(message.get("body", b""))
            return message

        done = False

        def finish() -> None:
            nonlocal done
            if done:
                return
            done = True
            self.metrics.leave()
            seconds = time.perf_counter() - start
            route = route_template(path)
            self.metrics.observe(scope["method"], route, status, counts[0], counts[1], seconds)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                self._log(scope, route, status, counts, seconds, state)

        async def counting_send(message: Message) -> None:
            nonlocal status
            last = False
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                counts[1] += len(message.get("body", b""))
                last = not message.get("more_body", False)
            elif message["type"] == "http.response.pathsend":
                counts[1] += _file_size(message.get("path"))
                last = True
            if last:
                # Counted before the answer's end goes out: a client that has its answer
                # finds it in the next scrape, whichever worker serves that.
                finish()
            await send(message)

        try:
            await handler(scope, counting_receive, counting_send)
        finally:
            finish()  # a request that ended without a complete answer

    def _log(
        self,
        scope: Scope,
        route: str,
        status: int,
        counts: list[int],
        seconds: float,
        state: dict[str, Any],
    ) -> None:
        client = scope.get("client")
        account = state.get("account") if isinstance(state, dict) else None
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "bytes_in": counts[0],
            "bytes_out": counts[1],
            "duration_ms": round(seconds * 1000, 3),
            "remote": client[0] if client else None,
            "user": account if isinstance(account, str) else None,
        }
        access_log.info(json.dumps(line, separators=(",", ":")))

    async def _serve_metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        sessions: int | None = None
        counter = self.upload_sessions or _registry_upload_counter(scope)
        if counter is not None:
            try:
                sessions = await counter()
            except Exception:
                # A scrape must not fail because the database is busy: leave the gauge out.
                log.exception("cannot count upload sessions for /metrics")
        body = self.metrics.render(sessions).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


def _registry_upload_counter(scope: Scope) -> UploadCounter | None:
    """Count upload sessions through the app's ``state.registry`` (the core's ``Registry``),
    in a worker thread, since it is a query on the metadata database."""
    app = scope.get("app")
    registry = getattr(getattr(app, "state", None), "registry", None)
    count = getattr(registry, "count_uploads", None)
    if count is None:
        return None

    async def counter() -> int:
        import anyio.to_thread

        return int(await anyio.to_thread.run_sync(count))

    return counter


def _file_size(path: object) -> int:
    try:
        return os.stat(str(path)).st_size if path else 0
    except OSError:
        return 0
