"""HTTP to one registry endpoint: scheme, TLS, auth challenges, retries, bounded bodies.

- ``docker.io`` is served by ``registry-1.docker.io``; mirrors from lamina's config come first.
- Loopback registries and those the user lists as insecure may speak plain HTTP, as docker
  allows: HTTPS (unverified) is tried first, HTTP if the host does not speak TLS.
- ``certs.d/<host>/*.crt`` add CAs for that registry; ``client.cert``/``client.key`` a client
  certificate.
- A 401 from the registry itself goes to the Authenticator (``lamina.remote.auth``), which reads
  the ``WWW-Authenticate`` challenge and says whether a retry can succeed. Redirects are
  followed by httpx, which drops ``Authorization`` when the target is another origin: a token
  for the registry never reaches a CDN or another host.
- Idempotent requests are retried with exponential backoff on connection failures, 5xx and
  429 (honouring ``Retry-After``).
"""

from __future__ import annotations

import email.utils
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lamina.errors import LaminaError, TransportError
from lamina.remote.options import RemoteOptions, is_loopback

if TYPE_CHECKING:
    import httpx

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
MAX_DOCUMENT = 4 * 1024 * 1024  # manifests and JSON answers; the distribution spec's limit
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "lamina/0.1"


class Authorizer(Protocol):
    """What the transport needs of ``lamina.remote.auth.Authenticator``."""

    def authorize(self, request: httpx.Request, scopes: list[str]) -> None: ...

    def handle_challenge(self, response: httpx.Response, scopes: list[str]) -> bool: ...


def endpoints(domain: str, options: RemoteOptions) -> list[str]:
    """Base URLs that serve ``domain``, in the order to try them (mirrors first)."""
    if domain in (DOCKER_HUB, "index.docker.io", DOCKER_HUB_ENDPOINT):
        return [m.rstrip("/") for m in options.mirrors] + [f"https://{DOCKER_HUB_ENDPOINT}"]
    return [f"https://{domain}"]


def host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


class Transport:
    """An httpx client bound to one registry endpoint (``https://host[:port]``)."""

    def __init__(
        self,
        base_url: str,
        options: RemoteOptions,
        *,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.options = options
        self.host = host_of(base_url)
        self.insecure = options.is_insecure(self.host)
        self.base_url = base_url.rstrip("/")
        self.authorizer = authorizer
        self._scheme_known = not (self.insecure and base_url.startswith("https://"))
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ setup

    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            if not self._scheme_known:
                self._scheme_known = True
                self._probe_scheme()
            return self._client

    def _make_client(self) -> httpx.Client:
        import httpx

        if self.options.http_transport is not None:  # the seam: no network, no TLS
            return httpx.Client(transport=self.options.http_transport,
                                timeout=self.options.timeout,
                                headers={"User-Agent": USER_AGENT,
                                         "Accept-Encoding": "identity"})
        verify: ssl.SSLContext | bool = False if self.insecure else self._ssl_context()
        timeout = httpx.Timeout(self.options.timeout, connect=min(self.options.timeout, 30.0))
        return httpx.Client(
            verify=verify,
            timeout=timeout,
            # identity: digests are taken over the bytes as stored, never a re-encoding.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            # HTTP(S)_PROXY and NO_PROXY are honoured as docker does, never for loopback.
            trust_env=not is_loopback(self.host),
        )

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        for root in self.options.certs_dirs:
            directory = Path(root) / self.host
            if not directory.is_dir():
                continue
            for ca in sorted(directory.glob("*.crt")):
                context.load_verify_locations(cafile=str(ca))
            cert, key = directory / "client.cert", directory / "client.key"
            if cert.is_file() and key.is_file():
                context.load_cert_chain(str(cert), str(key))
        return context

    def _probe_scheme(self) -> None:
        """An insecure registry: keep HTTPS if it speaks TLS, else fall back to HTTP."""
        import httpx

        assert self._client is not None
        try:
            self._client.get(f"{self.base_url}/v2/", timeout=5.0).close()
        except httpx.TransportError:
            self.base_url = "http://" + self.host

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: list[str],
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        params: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request; return the (open, streaming) response; the caller closes it.

        Retries transient failures when ``retry`` (the body must then be bytes or None) and
        answers one auth challenge from the registry. Error statuses are returned, not raised.
        """
        import httpx

        client = self.client()
        attempt = 0
        challenged = False
        while True:
            request = client.build_request(method, self.url(path), headers=headers,
                                           content=content, params=params)
            if self.authorizer is not None:
                self.authorizer.authorize(request, scopes)
            try:
                response = client.send(request, stream=True, follow_redirects=True)
            except httpx.TransportError as err:
                # Nobody listening is retried once (a registry restarting), a dropped or
                # timed-out connection as often as the options say.
                limit = min(1, self.options.retries) if isinstance(err, httpx.ConnectError) \
                    else self.options.retries
                if retry and attempt < limit:
                    self._sleep(self.options.backoff * 2**attempt)
                    attempt += 1
                    continue
                raise TransportError(f"{self.host}: {describe(err)}") from err
            status = response.status_code
            if (status == 401 and self.authorizer is not None and not challenged
                    and host_of(str(response.url)) == self.host):
                challenged = True
                body = read_limited(response, MAX_DOCUMENT, what="error")
                if self.authorizer.handle_challenge(response, scopes):
                    continue
                # The body is read: hand back an answer that can be read again.
                return httpx.Response(status, headers=response.headers, content=body,
                                      request=response.request)
            if status in RETRY_STATUSES and retry and attempt < self.options.retries:
                delay = retry_after(response.headers.get("Retry-After"))
                response.close()
                if delay is None:
                    delay = self.options.backoff * 2**attempt
                self._sleep(min(delay, self.options.max_retry_after))
                attempt += 1
                continue
            return response

    def _sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def read_limited(response: httpx.Response, limit: int, *, what: str) -> bytes:
    """The whole body, refusing (and cutting) one longer than ``limit`` bytes."""
    import httpx

    from lamina.errors import IntegrityError

    if response.is_stream_consumed:  # an answer rebuilt from a body already read, bounded
        try:
            return response.content
        except httpx.ResponseNotRead:
            return b""
    length = response.headers.get("Content-Length")
    host = host_of(str(response.request.url))
    if length is not None and length.isdigit() and int(length) > limit:
        response.close()
        raise IntegrityError(f"{host}: {what} of {int(length)} bytes exceeds the limit of "
                             f"{limit} bytes")
    parts: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_raw():
            total += len(chunk)
            if total > limit:
                raise IntegrityError(f"{host}: {what} exceeds the limit of {limit} bytes")
            parts.append(chunk)
    except httpx.TransportError as err:
        raise TransportError(f"{host}: reading {what}: {describe(err)}") from err
    finally:
        response.close()
    return b"".join(parts)


def describe(err: Exception) -> str:
    """One line for a network error, with the root cause (``connection refused``)."""
    text = str(err) or type(err).__name__
    cause: BaseException | None = err.__cause__ or err.__context__
    while cause is not None and not isinstance(cause, LaminaError):
        if str(cause):
            text = str(cause)
        cause = cause.__cause__ or cause.__context__
    return " ".join(text.split())

