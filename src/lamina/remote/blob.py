"""Blob downloads that survive dropped connections: resumed with ``Range`` where they stopped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lamina.errors import IntegrityError, TransportError
from lamina.model.digest import Digest
from lamina.remote.transport import describe

if TYPE_CHECKING:
    import httpx

    from lamina.remote.registry import Repository

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class BlobBody:
    """The bytes of a blob from ``offset`` on, resuming with ``Range`` after a dropped connection.

    Never yields more than ``size`` bytes in all: a longer body is cut off and refused. A body
    that ends early, or a connection that breaks, is resumed from where it stopped (up to the
    transport's retry count); a server that ignores Range has the prefix skipped.
    """

    def __init__(self, repository: Repository, digest: Digest, size: int, offset: int = 0, *,
                 what: str) -> None:
        self.repository = repository
        self.digest = digest
        self.size = size
        self.position = offset
        self.what = what
        self.resumed_from: int | None = None  # the offset of the first ranged request, if any

    def __iter__(self) -> Iterator[bytes]:
        import httpx

        host = self.repository.transport.host
        failures = 0
        while self.position < self.size or self.size == 0:
            response = self._open()
            skip = self._skip(response)
            try:
                for chunk in response.iter_raw():
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                        if not chunk:
                            continue
                    if self.position + len(chunk) > self.size:
                        raise IntegrityError(f"{host}: {self.what}: the registry sent more than "
                                             f"the {self.size} bytes of its descriptor")
                    self.position += len(chunk)
                    failures = 0
                    yield chunk
            except httpx.TransportError as err:
                failures += 1
                if failures > self.repository.transport.options.retries:
                    raise TransportError(f"{host}: {self.what}: {describe(err)}") from err
                continue
            finally:
                response.close()
            if self.size == 0 or self.position >= self.size:
                return
            failures += 1  # ended early: resume after a pause
            if failures > self.repository.transport.options.retries:
                raise IntegrityError(f"{host}: {self.what}: the body ended after "
                                     f"{self.position} of {self.size} bytes")
            self.repository.transport._sleep(
                self.repository.transport.options.backoff * 2 ** (failures - 1))

    def _open(self) -> httpx.Response:
        headers: dict[str, str] = {}
        if self.position:
            headers["Range"] = f"bytes={self.position}-"
            if self.resumed_from is None:
                self.resumed_from = self.position
        repo = self.repository
        response = repo.transport.request("GET", f"/v2/{repo.path}/blobs/{self.digest}",
                                          scopes=repo.pull_scopes, headers=headers)
        if response.status_code not in (200, 206):
            repo.fail(response, self.what)
        return response

    def _skip(self, response: httpx.Response) -> int:
        """How many bytes of this answer come before ``position`` (a server ignoring Range)."""
        host = self.repository.transport.host
        length = response.headers.get("Content-Length", "")
        if response.status_code == 200:
            if length.isdigit() and int(length) > self.size:
                response.close()
                raise IntegrityError(f"{host}: {self.what}: the registry announced "
                                     f"{int(length)} bytes, the descriptor says {self.size}")
            return self.position
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match is None or int(match.group(1)) != self.position:
            response.close()
            raise IntegrityError(f"{host}: {self.what}: the registry answered a range request "
                                 "with the wrong range")
        return 0
