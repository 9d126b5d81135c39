"""What the registry client may be told: insecure registries, mirrors, CA directories, limits.

Read from lamina's client config (TOML), located by the engine::

    [registries]
    insecure = ["myregistry:5000"]          # HTTP (or HTTPS without verification) allowed
    mirrors = ["http://127.0.0.1:5000"]      # tried first for docker.io, in order
    certs_dirs = ["/etc/lamina/certs.d"]     # <dir>/<host>/ca.crt (and client.cert/client.key)

    [pull]
    max_concurrent_downloads = 3
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.errors import InvalidArgument

Credentials = Callable[[str], "tuple[str, str] | None"]

DEFAULT_CERTS_DIRS = (Path("/etc/lamina/certs.d"), Path("/etc/docker/certs.d"),
                      Path.home() / ".config" / "lamina" / "certs.d")
MAX_CONCURRENT_DOWNLOADS = 3


@dataclass(frozen=True)
class RemoteOptions:
    """Everything the client needs beyond a reference. Immutable, passed explicitly."""

    insecure: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    certs_dirs: tuple[Path, ...] = DEFAULT_CERTS_DIRS
    credentials: Credentials | None = field(default=None, compare=False)
    max_concurrent_downloads: int = MAX_CONCURRENT_DOWNLOADS
    max_concurrent_uploads: int = 5
    retries: int = 4
    backoff: float = 0.25  # seconds before the first retry; doubled each time
    max_retry_after: float = 60.0
    timeout: float = 60.0
    # The seam for tests: an ``httpx.BaseTransport`` every client sends through instead of
    # the network (an in-process registry app); None: the network, with TLS as configured.
    http_transport: Any = field(default=None, compare=False)

    def is_insecure(self, host: str) -> bool:
        """Loopback registries and those listed as insecure may use plain HTTP (as docker)."""
        return is_loopback(host) or host in self.insecure or _hostname(host) in self.insecure

    @classmethod
    def from_toml(cls, path: Path, **overrides: Any) -> RemoteOptions:
        """Options from a TOML file; a missing file gives the defaults."""
        import tomllib

        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            return cls(**overrides)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise InvalidArgument(f"cannot read lamina's config {path}: {err}") from err
        return cls.from_mapping(data, where=str(path), **overrides)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "config",
                     **overrides: Any) -> RemoteOptions:
        """Options from lamina's parsed config (``[registries]`` and ``[pull]``); ``where``
        names it in errors."""
        registries = data.get("registries", {})
        pull = data.get("pull", {})
        if not isinstance(registries, Mapping) or not isinstance(pull, Mapping):
            raise InvalidArgument(f"{where}: registries and pull must be tables")
        kwargs: dict[str, Any] = {}
        for key in ("insecure", "mirrors"):
            value = registries.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidArgument(f"{where}: registries.{key} must be a list of strings")
            kwargs[key] = tuple(value)
        certs = registries.get("certs_dirs")
        if certs is not None:
            if not isinstance(certs, list) or not all(isinstance(c, str) for c in certs):
                raise InvalidArgument(f"{where}: registries.certs_dirs must be a list of strings")
            kwargs["certs_dirs"] = tuple(Path(c) for c in certs)
        downloads = pull.get("max_concurrent_downloads", MAX_CONCURRENT_DOWNLOADS)
        if not isinstance(downloads, int) or isinstance(downloads, bool) or downloads < 1:
            raise InvalidArgument(f"{where}: pull.max_concurrent_downloads must be a positive int")
        kwargs["max_concurrent_downloads"] = downloads
        kwargs.update(overrides)
        return cls(**kwargs)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
