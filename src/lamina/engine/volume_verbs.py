"""The engine's volume verbs (a part of ``Engine``; see lamina.engine.volumes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lamina.store import Store
    from lamina.store.volumes import Volume


class VolumeVerbs:
    @property
    def store(self) -> Store:  # Engine's cached property
        raise NotImplementedError

    def create_volume(self, name: str | None = None, *, driver: str = "local",
                      labels: Mapping[str, str] | None = None,
                      options: Mapping[str, str] | None = None) -> Volume:
        from lamina.store.volumes import VolumeStore

        return VolumeStore(self.store.root).create(name, driver=driver, labels=labels,
                                                   options=options)

    def volume(self, name: str) -> Volume:
        from lamina.store.volumes import VolumeStore

        return VolumeStore(self.store.root).get(name)

    def volumes(self, filters: Sequence[str] = ()) -> list[Volume]:
        from lamina.engine import volumes

        return volumes.listing(self.store, filters)

    def remove_volume(self, name: str, *, force: bool = False) -> None:
        from lamina.engine import volumes

        volumes.remove(self.store, name, force=force)

    def prune_volumes(self, filters: Sequence[str] = (), *, all: bool = False
                      ) -> tuple[list[str], int]:
        from lamina.engine import volumes

        return volumes.prune(self.store, filters, all=all)

    def volume_usage(self) -> list[tuple[Volume, int, int]]:
        """Each volume, the number of containers using it, and its size (system df)."""
        from lamina.engine import volumes
        from lamina.store.volumes import VolumeStore

        store = VolumeStore(self.store.root)
        return [(v, len(volumes.users(self.store, v.name)), store.size(v))
                for v in store.all()]
