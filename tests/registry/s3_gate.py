"""A pass-through HTTP proxy in front of the real S3 store that can hold one kind of request.

A test points a replica's S3 endpoint here, and every request goes on to SeaweedFS unchanged
(the Host header too, so the SigV4 signatures still match). Requests that ``hold`` picks are
kept waiting once they have arrived (``arrived`` is set) until the test calls ``release``: the
replica is then in the middle of that store operation for as long as the test likes, and the
test can see what else the replica does meanwhile. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

# Hop-by-hop headers are the proxy's own; Expect is answered here (the server sends the
# 100 Continue itself), so the store gets the body straight away.
_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te"}


class S3Gate:
    def __init__(self, upstream: str, hold: Callable[[str, str], bool]) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.hold = hold  # (method, path with query) -> hold this request?
        self.arrived = threading.Event()
        self._released = threading.Event()
        self.held = 0
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if gate.hold(self.command, self.path):
                    gate.held += 1
                    gate.arrived.set()
                    gate._released.wait(600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn = http.client.HTTPConnection(*gate.upstream, timeout=300)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                self.send_response(answer.status, answer.reason)
                # The body was read whole: its length replaces any chunked framing, except for
                # a HEAD, whose Content-Length is the object's.
                head = self.command == "HEAD"
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP and (head or key.lower() != "content-length"):
                        self.send_header(key, value)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def release(self) -> None:
        """Let held requests (and any later one) through."""
        self._released.set()

    def __enter__(self) -> S3Gate:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def is_complete_multipart(method: str, path: str) -> bool:
    """S3's CompleteMultipartUpload: ``POST /bucket/key?uploadId=...``."""
    return method == "POST" and "uploadId=" in urlsplit(path).query


__all__ = ["S3Gate", "is_complete_multipart"]
