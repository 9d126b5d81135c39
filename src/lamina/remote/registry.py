"""The Distribution API (OCI distribution-spec v1.1) as a client, for one repository.

Everything a registry sends is checked here before anyone sees it: a manifest's digest against
the reference it was asked by and against ``Docker-Content-Digest``, its size against 4 MiB;
a blob's length against its descriptor (a longer body is cut off and refused). Blob digests are
checked by whoever consumes the bytes (they hash while they write).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlencode, urljoin

from lamina.errors import (
    Denied,
    IntegrityError,
    InvalidDigest,
    InvalidManifest,
    NotFound,
    RegistryError,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from lamina.model import mediatype as mt
from lamina.model.digest import Digest
from lamina.model.manifest import Index, Manifest, parse_manifest
from lamina.remote.transport import MAX_DOCUMENT, Transport, describe, read_limited

if TYPE_CHECKING:
    import httpx

MANIFEST_ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST,
                             mt.DOCKER_MANIFEST_LIST])
MONOLITHIC_MAX = 8 * 1024 * 1024  # blobs up to this size go up in one PUT
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest or index as received: its exact bytes, declared type and verified digest."""

    raw: bytes
    media_type: str
    digest: Digest
    parsed: Manifest | Index


class Repository:
    """One repository of a registry, reached through ``transport``."""

    def __init__(self, transport: Transport, path: str) -> None:
        self.transport = transport
        self.path = path
        self.pull_scopes = [f"repository:{path}:pull"]
        self.push_scopes = [f"repository:{path}:pull,push"]

    @property
    def name(self) -> str:
        return f"{self.transport.host}/{self.path}"

    # ------------------------------------------------------------------ manifests

    def manifest(self, reference: str, *, what: str | None = None) -> FetchedManifest:
        """GET a manifest by tag or digest; verify its digest; parse it."""
        label = what or f"manifest for {self.path}:{reference}"
        response = self.transport.request(
            "GET", f"/v2/{self.path}/manifests/{reference}", scopes=self.pull_scopes,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status_code != 200:
            self.fail(response, label)
        raw = read_limited(response, MAX_DOCUMENT, what=label)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        announced = response.headers.get("Docker-Content-Digest")
        digest = self._verify_manifest_digest(raw, reference, announced, label)
        try:
            parsed = parse_manifest(raw, content_type or None)
        except InvalidManifest as err:
            raise err.reworded(f"{self.transport.host}: {label}: {err}") from err
        return FetchedManifest(raw, parsed.media_type, digest, parsed)

    def _verify_manifest_digest(self, raw: bytes, reference: str, announced: str | None,
                                label: str) -> Digest:
        host = self.transport.host
        if ":" in reference:  # by digest: the bytes must hash to it
            expected = Digest.parse(reference)
            actual = Digest.of(raw, expected.algorithm)
            if actual != expected:
                raise IntegrityError(f"{host}: {label}: the registry sent a manifest with digest "
                                     f"{actual}, not the one asked for")
        if announced:
            try:
                claimed = Digest.parse(announced.strip())
            except InvalidDigest as err:
                raise IntegrityError(f"{host}: {label}: invalid Docker-Content-Digest "
                                     f"{announced!r}") from err
            actual = Digest.of(raw, claimed.algorithm)
            if actual != claimed:
                raise IntegrityError(f"{host}: {label}: manifest digest {actual} does not match "
                                     f"the Docker-Content-Digest {claimed} the registry sent")
        return Digest.of(raw)

    def manifest_digest(self, reference: str) -> Digest | None:
        """HEAD a manifest: its digest if the registry has it, else None."""
        response = self.transport.request(
            "HEAD", f"/v2/{self.path}/manifests/{reference}", scopes=self.pull_scopes,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        response.close()
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self.fail(response, f"manifest {self.path}:{reference}")
        announced = response.headers.get("Docker-Content-Digest")
        return Digest.parse(announced) if announced else None

    def put_manifest(self, reference: str, raw: bytes, media_type: str) -> Digest:
        """PUT a manifest byte for byte; return its digest (checked against the registry's)."""
        digest = Digest.of(raw)
        response = self.transport.request(
            "PUT", f"/v2/{self.path}/manifests/{reference}", scopes=self.push_scopes,
            headers={"Content-Type": media_type}, content=raw,
        )
        if response.status_code not in (200, 201, 202):
            self.fail(response, f"manifest {self.path}:{reference}")
        response.close()
        announced = response.headers.get("Docker-Content-Digest")
        if announced and announced.strip() != str(digest):
            raise IntegrityError(f"{self.transport.host}: the registry stored manifest "
                                 f"{announced.strip()}, not the {digest} sent")
        return digest

    def tags(self) -> list[str]:
        """Every tag of the repository, following ``Link`` pagination."""
        tags: list[str] = []
        url: str | None = f"/v2/{self.path}/tags/list?n=1000"
        pages = 0
        while url is not None:
            response = self.transport.request("GET", url, scopes=self.pull_scopes)
            if response.status_code != 200:
                self.fail(response, f"tags of {self.path}")
            body = read_limited(response, MAX_DOCUMENT, what=f"tags of {self.path}")
            try:
                page = json.loads(body).get("tags") or []
            except (ValueError, AttributeError) as err:
                raise InvalidManifest(f"{self.transport.host}: tags of {self.path}: "
                                      "invalid JSON") from err
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise InvalidManifest(f"{self.transport.host}: tags of {self.path}: "
                                      "expected a list of strings")
            tags += page
            link = _LINK_NEXT.search(response.headers.get("Link", ""))
            url = urljoin(str(response.url), link.group(1)) if link else None
            pages += 1
            if pages > 10_000:
                raise RegistryError(f"{self.transport.host}: tags of {self.path}: "
                                    "endless pagination")
        return tags

    # ------------------------------------------------------------------ blobs

    def blob_size(self, digest: Digest, scopes: list[str] | None = None) -> int | None:
        """HEAD a blob: its size if the repository has it, else None."""
        response = self.transport.request("HEAD", f"/v2/{self.path}/blobs/{digest}",
                                          scopes=scopes or self.pull_scopes)
        response.close()
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self.fail(response, f"blob {digest.short}")
        length = response.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else 0

    def read_blob(self, digest: Digest, size: int, *, what: str) -> bytes:
        """A small blob (a config) whole, its size and digest checked."""
        if size > MAX_DOCUMENT * 16:
            raise IntegrityError(f"{self.transport.host}: {what} of {size} bytes is too large")
        data = b"".join(self.blob_chunks(digest, size, what=what))
        actual = Digest.of(data, digest.algorithm)
        if actual != digest:
            raise IntegrityError(f"{self.transport.host}: {what}: the registry sent content "
                                 f"with digest {actual}, not {digest}")
        return data

    def blob_chunks(self, digest: Digest, size: int, offset: int = 0, *,
                    what: str) -> Iterator[bytes]:
        """The bytes of a blob from ``offset`` to ``size``; see ``lamina.remote.blob``."""
        from lamina.remote.blob import BlobBody

        return iter(BlobBody(self, digest, size, offset, what=what))

    # ------------------------------------------------------------------ uploads

    def mount(self, digest: Digest, source: str) -> bool:
        """Ask the registry to link ``digest`` from repository ``source``; True if it did."""
        scopes = [*self.push_scopes, f"repository:{source}:pull"]
        query = urlencode({"mount": str(digest), "from": source})
        response = self.transport.request("POST", f"/v2/{self.path}/blobs/uploads/?{query}",
                                          scopes=scopes, content=b"")
        response.close()
        if response.status_code == 201:
            return True
        if response.status_code == 202:
            location = response.headers.get("Location")
            if location:  # an upload session we will not use
                self.transport.request("DELETE", location, scopes=self.push_scopes,
                                       retry=False).close()
            return False
        self.fail(response, f"mount of {digest.short} from {source}")

    def upload(self, digest: Digest, size: int, chunks: Callable[[], Iterator[bytes]]) -> None:
        """Upload a blob: one PUT when small, else one streamed PATCH and a closing PUT.

        ``chunks`` opens the blob's bytes afresh: a failed upload starts again from the start.
        """
        attempts = self.transport.options.retries + 1
        for attempt in range(attempts):
            try:
                self._upload_once(digest, size, chunks)
                return
            except TransportError:
                if attempt + 1 >= attempts:
                    raise
                self.transport._sleep(self.transport.options.backoff * 2**attempt)

    def _upload_once(self, digest: Digest, size: int,
                     chunks: Callable[[], Iterator[bytes]]) -> None:
        import httpx

        what = f"upload of {digest.short}"
        response = self.transport.request("POST", f"/v2/{self.path}/blobs/uploads/",
                                          scopes=self.push_scopes, content=b"")
        response.close()
        if response.status_code != 202:
            self.fail(response, what)
        location = self._location(response, what)
        try:
            if size <= MONOLITHIC_MAX:
                body = b"".join(chunks())
                done = self.transport.request(
                    "PUT", _with_query(location, digest=str(digest)), scopes=self.push_scopes,
                    headers={"Content-Type": "application/octet-stream"}, content=body,
                    retry=False)
            else:
                patched = self.transport.request(
                    "PATCH", location, scopes=self.push_scopes, retry=False,
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Length": str(size),
                             "Content-Range": f"0-{size - 1}"},
                    content=chunks())
                patched.close()
                if patched.status_code != 202:
                    self.fail(patched, what)
                location = self._location(patched, what)
                done = self.transport.request(
                    "PUT", _with_query(location, digest=str(digest)), scopes=self.push_scopes,
                    content=b"", retry=False)
        except httpx.TransportError as err:
            raise TransportError(f"{self.transport.host}: {what}: {describe(err)}") from err
        done.close()
        if done.status_code not in (201, 204):
            self.fail(done, what)

    def _location(self, response: httpx.Response, what: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.transport.host}: {what}: no Location in the answer")
        return urljoin(str(response.url), location)

    # ------------------------------------------------------------------ errors

    def fail(self, response: httpx.Response, what: str) -> NoReturn:
        """Raise the lamina error for an error answer, with the registry's own words."""
        body = b""
        if response.request.method != "HEAD":
            try:
                body = read_limited(response, 64 * 1024, what="error")
            except (IntegrityError, TransportError):
                body = b""
        response.close()
        raise error_for(response.status_code, body, f"{what}", self.transport.host)


def error_for(status: int, body: bytes, what: str, host: str) -> RegistryError | NotFound:
    """The lamina error for an error answer, with the codes and messages the registry sent."""
    codes: list[str] = []
    messages: list[str] = []
    try:
        items = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        items = []  # not the spec's error body: the status says it all
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        raw_code = str(item.get("code", ""))
        words = raw_code.lower().replace("_", " ")
        codes.append(raw_code)
        message = str(item.get("message", "") or "")
        messages.append(f"{words}: {message}" if message and message != words else words)
    detail = "; ".join(messages) or f"HTTP {status}"
    first = codes[0] if codes else None
    if status == 404:
        return NotFound(f"{what} not found: {detail}")
    if status == 401:
        return Unauthorized(f"{host}: {what}: {detail}", status=status, code=first)
    if status == 403:
        return Denied(f"{host}: {what}: {detail}", status=status, code=first)
    if status == 429:
        return TooManyRequests(f"{host}: {what}: {detail}", status=status, code=first)
    return RegistryError(f"{host}: {what}: {detail}", status=status, code=first)


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)
