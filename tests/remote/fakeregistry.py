"""A small registry on loopback that can be told to misbehave, for the client's tests.

It serves the manifests and blobs it is given (by tag and by digest, Range requests included),
records every request, and lets a test replace the answer to any request (``hook``) or slow
blob bodies down (``throttle``). It runs in a thread of the test process: ``http.server``,
HTTP/1.1 with keep-alive, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.images import BuiltImage, BuiltIndex, sha256


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    length: int | None = None  # Content-Length to announce (default: len(body) for bytes)


Hook = Callable[[Request], Answer | None]


class FakeRegistry:
    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.hook: Hook | None = None
        self.throttle: float = 0.0  # seconds to sleep per 64 KiB of blob body
        self.blob_bytes_sent = 0
        self.active_blob_gets = 0
        self.max_active_blob_gets = 0  # how many blob bodies were being sent at once, at most
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ content

    def add_image(self, repo: str, tag: str | None, image: BuiltImage) -> None:
        self.blobs.update(image.blobs)
        self.add_manifest(repo, tag, image.manifest, image.media_type)

    def add_index(self, repo: str, tag: str | None, index: BuiltIndex) -> None:
        for digest, data in index.blobs.items():
            self.blobs[digest] = data
            try:
                import json

                doc = json.loads(data)
                if isinstance(doc, dict) and doc.get("schemaVersion") == 2 and "mediaType" in doc:
                    self.manifests[(repo, digest)] = (data, doc["mediaType"])
            except ValueError:
                pass
        self.add_manifest(repo, tag, index.index, index.media_type)

    def add_manifest(self, repo: str, tag: str | None, raw: bytes, media_type: str) -> None:
        self.manifests[(repo, sha256(raw))] = (raw, media_type)
        if tag is not None:
            self.manifests[(repo, tag)] = (raw, media_type)

    # ------------------------------------------------------------------ serving

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeRegistry:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                request = Request(self.command, self.path, {k.lower(): v for k, v in
                                                            self.headers.items()})
                registry.requests.append(request)
                answer = registry.hook(request) if registry.hook else None
                if answer is None:
                    answer = registry.answer(request)
                blob = request.method == "GET" and "/blobs/" in request.path
                if blob:
                    with registry._lock:
                        registry.active_blob_gets += 1
                        registry.max_active_blob_gets = max(registry.max_active_blob_gets,
                                                            registry.active_blob_gets)
                try:
                    self._send(answer)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    if blob:
                        with registry._lock:
                            registry.active_blob_gets -= 1

            def _send(self, answer: Answer) -> None:
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                body = answer.body
                length = answer.length
                if length is None and isinstance(body, bytes):
                    length = len(body)
                if length is not None:
                    self.send_header("Content-Length", str(length))
                else:
                    self.close_connection = True
                self.end_headers()
                if self.command == "HEAD":
                    return
                chunks = [body] if isinstance(body, bytes) else body
                for chunk in chunks:
                    for i in range(0, len(chunk), 65536):
                        if registry.throttle and "/blobs/" in self.path:
                            time.sleep(registry.throttle)
                        piece = chunk[i:i + 65536]
                        self.wfile.write(piece)
                        if "/blobs/" in self.path:
                            registry.blob_bytes_sent += len(piece)
                self.wfile.flush()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, request: Request) -> Answer:
        """What a well-behaved registry answers."""
        path = request.path.split("?", 1)[0]
        if path == "/v2/":
            return Answer(200, {"Content-Type": "application/json"}, b"{}")
        match = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        if match:
            found = self.manifests.get((match.group(1), match.group(2)))
            if found is None:
                return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            raw, media_type = found
            return Answer(200, {"Content-Type": media_type, "Docker-Content-Digest": sha256(raw)},
                          raw)
        match = re.fullmatch(r"/v2/(.+)/blobs/([^/]+)", path)
        if match:
            data = self.blobs.get(match.group(2))
            if data is None:
                return _error(404, "BLOB_UNKNOWN", "blob unknown")
            return blob_answer(data, request.headers.get("range"))
        return _error(404, "NOT_FOUND", "not found")

    def blob_requests(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and "/blobs/" in r.path]


def blob_answer(data: bytes, range_header: str | None) -> Answer:
    headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
               "Docker-Content-Digest": sha256(data)}
    if range_header:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header.strip())
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) + 1 if match.group(2) else len(data)
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
            return Answer(206, headers, data[start:end])
    return Answer(200, headers, data)


def _error(status: int, code: str, message: str) -> Answer:
    import json

    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return Answer(status, {"Content-Type": "application/json"}, body)


def endless(chunk: bytes = b"\0" * 65536) -> Iterable[bytes]:
    while True:
        yield chunk
