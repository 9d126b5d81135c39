"""The engine's network verbs (a part of ``Engine``; see lamina.engine.networks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.store import Store


class NetworkVerbs:
    @property
    def store(self) -> Store:  # Engine's cached property
        raise NotImplementedError

    def create_network(self, name: str, *, driver: str = "bridge", subnet: str | None = None,
                       gateway: str | None = None, ip_range: str | None = None,
                       internal: bool = False, labels: Mapping[str, str] | None = None,
                       options: Mapping[str, str] | None = None,
                       attachable: bool = False) -> dict[str, Any]:
        from lamina.engine import networks

        return networks.create(self.store, name, driver=driver, subnet=subnet,
                               gateway=gateway, ip_range=ip_range, internal=internal,
                               labels=labels, options=options, attachable=attachable)

    def networks(self, filters: Sequence[str] = ()) -> list[dict[str, Any]]:
        from lamina.engine import networks

        return networks.listing(self.store, filters)

    def inspect_network(self, name: str) -> dict[str, Any]:
        from lamina.engine import networks

        return networks.inspect(self.store, networks.find(self.store, name))

    def remove_network(self, name: str) -> None:
        from lamina.engine import networks

        networks.remove(self.store, name)

    def prune_networks(self, filters: Sequence[str] = ()) -> list[str]:
        from lamina.engine import networks

        return networks.prune(self.store, filters)

    def connect_network(self, network: str, container: str, *, aliases: Sequence[str] = (),
                        ip: str | None = None) -> None:
        from lamina.engine import networks

        networks.connect(self.store, network, container, aliases=aliases, ip=ip)

    def disconnect_network(self, network: str, container: str, *, force: bool = False) -> None:
        from lamina.engine import networks

        networks.disconnect(self.store, network, container, force=force)

    def container_ports(self, name: str) -> list[dict[str, Any]]:
        """The published ports of a running container (``lamina port``)."""
        from lamina.engine import networks
        from lamina.engine.containers import find

        ports = networks.published_ports(self.store, find(self.store, name))
        return sorted(ports, key=lambda p: (p["ContainerPort"], p["Proto"]))
