"""A repository of a registry as the user named it: endpoints (docker.io's mirrors first),
credentials (under the name the user logged in to) and the image a reference resolves to.

``Session`` is where a reference meets the network: pull and push open one per repository,
and it closes every connection it made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.errors import NotFound, RegistryError, TransportError
from lamina.model.platform import Platform
from lamina.model.reference import Reference

if TYPE_CHECKING:
    from lamina.remote.options import RemoteOptions
    from lamina.remote.pull import RemoteImage
    from lamina.remote.registry import Repository
    from lamina.remote.transport import Transport


class Session:
    """The repository of ``ref`` on the first endpoint that answers (docker.io mirrors first)."""

    def __init__(self, ref: Reference, options: RemoteOptions, *, push: bool = False) -> None:
        self.ref = ref
        self.options = options
        self.push = push
        self._transports: list[Transport] = []

    def repository(self, base_url: str) -> Repository:
        from lamina.remote import credentials
        from lamina.remote.auth import Authenticator
        from lamina.remote.registry import Repository
        from lamina.remote.transport import Transport, host_of

        transport = Transport(base_url, self.options)
        host = host_of(base_url)
        # Credentials are kept under the name the user logged in to (docker.io, not its
        # endpoint); a mirror's under its own host.
        login_name = self.ref.domain if host == host_of(self._endpoints()[-1]) else host
        lookup = self.options.credentials or credentials.lookup
        transport.authorizer = Authenticator(
            host, lambda _host: lookup(login_name), transport.insecure, client=transport.client()
        )
        self._transports.append(transport)
        return Repository(transport, self.ref.path)

    def _endpoints(self) -> list[str]:
        from lamina.remote.transport import endpoints

        urls = endpoints(self.ref.domain, self.options)
        return urls[-1:] if self.push else urls

    def open(self, platform: Platform | None = None) -> tuple[Repository, RemoteImage | None]:
        """The repository to pull from; with a tag or digest, its image is resolved here, so
        that a mirror that lacks it gives way to the next endpoint."""
        from lamina.remote.pull import resolve

        urls = self._endpoints()
        for i, url in enumerate(urls):
            repository = self.repository(url)
            if self.push or self.ref.is_name_only:
                return repository, None
            target = self.ref.with_default_tag()
            try:
                image = resolve(repository, remote_reference(target), platform,
                                reference_label=target.familiar)
                return repository, image
            except (TransportError, NotFound, RegistryError):
                if i + 1 == len(urls):
                    raise
        raise AssertionError("endpoints() is never empty")

    def close(self) -> None:
        for transport in self._transports:
            transport.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remote_reference(ref: Reference) -> str:
    """What the registry's API calls ``ref``: its digest, else its tag."""
    return str(ref.digest) if ref.digest is not None else str(ref.tag)
