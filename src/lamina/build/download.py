"""``ADD <url>``: a remote file, downloaded for the step (never unpacked, as in docker).

The file gets mode 0600 unless ``--chmod`` says otherwise, and the server's ``Last-Modified``
time when it sends one. Its name, when the destination is a directory, is the last component of
the URL's path. The download is bounded in size and time; its digest is part of the step's
cache key, so a changed file rebuilds the step.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lamina.errors import BuildError

MAX_DOWNLOAD = 8 * 1024**3
TIMEOUT = 60.0


@dataclass(frozen=True)
class Download:
    name: str  # the file name the URL gives
    path: Path  # where it was saved
    digest: str  # sha256 hex of the content


def url_file_name(url: str) -> str:
    name = posixpath.basename(unquote(urlsplit(url).path))
    if name in ("", ".", "..") or "\x00" in name:
        raise BuildError(f"cannot determine a file name from the URL {url}")
    return name


def download(url: str, directory: Path) -> Download:
    """Fetch ``url`` into ``directory`` (a fresh scratch directory)."""
    import httpx

    name = url_file_name(url) if urlsplit(url).path.strip("/") else "download"
    path = directory / "file"
    hasher = hashlib.sha256()
    size = 0
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise BuildError(f"ADD failed: {url}: HTTP {response.status_code}")
            with open(path, "wb") as f:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise BuildError(f"ADD failed: {url} is larger than {MAX_DOWNLOAD} bytes")
                    hasher.update(chunk)
                    f.write(chunk)
            modified = response.headers.get("last-modified")
    except httpx.HTTPError as exc:
        raise BuildError(f"ADD failed: {url}: {exc}") from exc
    os.chmod(path, 0o600)
    if modified:
        try:
            when = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            when = None
        if when is not None:
            os.utime(path, (when, when))
    return Download(name, path, hasher.hexdigest())
