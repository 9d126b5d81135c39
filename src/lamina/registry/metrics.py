"""Operations: Prometheus metrics at ``/metrics`` and one JSON access-log line per request.

``MetricsMiddleware`` wraps the registry app (pure ASGI, so it sees the bytes as they stream and
adds no copy). It counts requests by method, route template and status, request and response
bytes by route, and a duration histogram by route. Route templates, not paths, are the labels,
so the number of series stays bounded whatever the clients ask for.

The counters live in each process: with ``--workers N`` a scrape reaches one worker and shows
that worker's counts, as Prometheus' own client does without its multiprocess mode; the
``worker`` label (the pid) tells them apart so the counters of a worker restart from zero only
when that worker does. The number of upload sessions in progress is not counted here at all: it
is read from the metadata database at scrape time, so every worker reports the same, right one.

The access log line holds time, method, path (without the query string, which may carry a
token), route, status, bytes in and out, duration, remote address and the account, never any
credential.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import defaultdict
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


class Metrics:
    """The counters of one process."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.bytes_in: defaultdict[str, int] = defaultdict(int)
        self.bytes_out: defaultdict[str, int] = defaultdict(int)
        self.duration_buckets: defaultdict[str, list[int]] = defaultdict(
            lambda: [0] * len(_BUCKETS)
        )
        self.duration_sum: defaultdict[str, float] = defaultdict(float)
        self.duration_count: defaultdict[str, int] = defaultdict(int)
        self.in_flight = 0
        self.started = time.time()

    def observe(
        self, method: str, route: str, status: int, bytes_in: int, bytes_out: int, seconds: float
    ) -> None:
        self.requests[(method, route, str(status))] += 1
        self.bytes_in[route] += bytes_in
        self.bytes_out[route] += bytes_out
        buckets = self.duration_buckets[route]
        for i, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                buckets[i] += 1
        self.duration_sum[route] += seconds
        self.duration_count[route] += 1

    def render(self, upload_sessions: int | None) -> str:
        """The Prometheus text exposition format, version 0.0.4."""
        worker = f'worker="{os.getpid()}"'
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        family(
            "lamina_registry_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status.",
        )
        for (method, route, status), n in sorted(self.requests.items()):
            labels = f'method="{method}",route="{_escape(route)}",status="{status}",{worker}'
            out.append(f"lamina_registry_http_requests_total{{{labels}}} {n}")
        for name, table, help_ in (
            ("lamina_registry_http_request_bytes_total", self.bytes_in, "Request body bytes."),
            ("lamina_registry_http_response_bytes_total", self.bytes_out, "Response body bytes."),
        ):
            family(name, "counter", help_ + " by route.")
            for route, n in sorted(table.items()):
                out.append(f'{name}{{route="{_escape(route)}",{worker}}} {n}')
        name = "lamina_registry_http_request_duration_seconds"
        family(name, "histogram", "Time to answer a request, by route.")
        for route, buckets in sorted(self.duration_buckets.items()):
            r = f'route="{_escape(route)}",{worker}'
            for bound, n in zip(_BUCKETS, buckets, strict=True):
                out.append(f'{name}_bucket{{{r},le="{bound}"}} {n}')
            out.append(f'{name}_bucket{{{r},le="+Inf"}} {self.duration_count[route]}')
            out.append(f"{name}_sum{{{r}}} {self.duration_sum[route]:.6f}")
            out.append(f"{name}_count{{{r}}} {self.duration_count[route]}")
        family("lamina_registry_http_requests_in_flight", "gauge", "Requests being answered.")
        out.append(f"lamina_registry_http_requests_in_flight{{{worker}}} {self.in_flight}")
        family("lamina_registry_process_start_time_seconds", "gauge", "Start of this worker.")
        out.append(f"lamina_registry_process_start_time_seconds{{{worker}}} {self.started:.3f}")
        if upload_sessions is not None:
            family(
                "lamina_registry_upload_sessions",
                "gauge",
                "Blob upload sessions in progress (from the metadata database).",
            )
            out.append(f"lamina_registry_upload_sessions {upload_sessions}")
        return "\n".join(out) + "\n"


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
        self.metrics.in_flight += 1

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                counts[0] += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                counts[1] += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":
                counts[1] += _file_size(message.get("path"))
            await send(message)

        try:
            await handler(scope, counting_receive, counting_send)
        finally:
            self.metrics.in_flight -= 1
            seconds = time.perf_counter() - start
            route = route_template(path)
            self.metrics.observe(scope["method"], route, status, counts[0], counts[1], seconds)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                self._log(scope, route, status, counts, seconds, state)

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
