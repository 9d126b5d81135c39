"""The engine: one method per verb; the only place where the store and the remote meet.

``Engine(settings)`` is the library's front door. The CLI is a thin layer over it: it parses
argv, calls one method, and renders what comes back (``lamina.engine.views``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from lamina.engine.container_verbs import ContainerVerbs
from lamina.engine.network_verbs import NetworkVerbs
from lamina.engine.settings import Settings
from lamina.engine.volume_verbs import VolumeVerbs
from lamina.errors import InvalidArgument, LaminaError

if TYPE_CHECKING:
    from lamina.engine.builder import CacheEntry, CachePrune
    from lamina.engine.events import Event, EventFilter
    from lamina.engine.login import LoginResult, LogoutResult
    from lamina.engine.pull import PullEvent, PullResult
    from lamina.engine.push import PushResult
    from lamina.engine.system import ImageUsage, TreeImage
    from lamina.engine.trust import PushSigning
    from lamina.engine.views import (
        DiskUsage,
        HistoryRow,
        ImageRow,
        PruneReport,
        Removal,
        SystemPrune,
    )
    from lamina.remote.options import RemoteOptions
    from lamina.store import Store
    from lamina.trust.verify import TrustOptions

__all__ = ["Engine", "Settings"]


class Engine(ContainerVerbs, VolumeVerbs, NetworkVerbs):
    # --disable-content-trust / --signature-policy for pulls a verb makes on its own (build's
    # FROM); None: the policy files and DOCKER_CONTENT_TRUST decide.
    trust_options: TrustOptions | None = None

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()

    @cached_property
    def store(self) -> Store:
        from lamina.store import Store

        settings = self.settings
        # The limits are read (from the config file) only if something is unpacked.
        return Store(settings.root, limits=lambda: settings.layer_limits)

    def close(self) -> None:
        """Close the store, if this engine opened it: its database checkpoints its WAL."""
        store = self.__dict__.get("store")  # a cached_property, set only once used
        if store is not None:
            store.close()

    # --- images -----------------------------------------------------------------------------
    # (lamina.engine.images is imported by the image verbs only: the container verbs do without
    # it, its views and their dataclasses, which weigh on every command's start-up.)
    def images(self, *, all: bool = False, filters: Sequence[str] = (),
               digests: bool = False) -> list[ImageRow]:
        from lamina.engine import images as _images

        return _images.list_images(self.store, all=all, filters=filters, digests=digests)

    def tag(self, source: str, target: str) -> None:
        from lamina.engine import events
        from lamina.engine import images as _images
        from lamina.model.reference import tag_target

        _images.tag(self.store, source, target)
        image = self.store.resolve(target)
        events.record_image(self.store, "tag", str(image.id), tag_target(target).familiar,
                            image.labels)

    def history(self, name: str) -> list[HistoryRow]:
        from lamina.engine import images as _images

        return _images.history(self.store, name)

    def inspect_image(self, name: str) -> dict[str, Any]:
        from lamina.engine import images as _images

        return _images.inspect_image(self.store, name)

    def remove_images(
        self, names: Sequence[str], *, force: bool = False, prune: bool = True
    ) -> tuple[list[Removal], list[Exception]]:
        from lamina.engine import images as _images

        removals, failures = _images.remove_images(self.store, names, force=force, prune=prune)
        self._record_removals(removals)
        return removals, failures

    def _record_removals(self, removals: Sequence[Removal]) -> None:
        """docker's ``untag`` and ``delete`` events (both name the image by its ID)."""
        from lamina.engine import events

        for removal in removals:
            action = "untag" if removal.action == "Untagged" else "delete"
            events.record_image(self.store, action, removal.image_id, removal.image_id)

    def prune_images(self, *, all: bool = False, filters: Sequence[str] = ()) -> PruneReport:
        from lamina.engine import images as _images

        report = _images.prune_images(self.store, all=all, filters=filters)
        self._record_removals(report.removals)
        return report

    def disk_usage(self) -> DiskUsage:
        from lamina.engine import images as _images

        return _images.disk_usage(self.store)

    def image_usage(self) -> list[ImageUsage]:
        """``system df -v``'s images: size, shared and unique sizes, containers."""
        from lamina.engine import system

        return system.image_usage(self.store)

    def image_tree(self, *, all: bool = False) -> list[TreeImage]:
        """``image ls --tree``: images with their platform manifests, newest first."""
        from lamina.engine import system

        return system.image_tree(self.store, all=all)

    # --- the build cache and system prune ---------------------------------------------------
    def build_cache(self) -> list[CacheEntry]:
        from lamina.engine import builder

        return builder.entries(self.store)

    def prune_build_cache(self, *, all: bool = False, filters: Sequence[str] = (),
                          keep_storage: int = 0) -> CachePrune:
        """docker's ``builder prune``: unused cache entries (``all``: every one)."""
        from lamina.engine import builder

        return builder.prune(self.store, all=all, filters=filters, keep_storage=keep_storage)

    def system_prune(self, *, all: bool = False, volumes: bool = False,
                     filters: Sequence[str] = ()) -> SystemPrune:
        """docker's ``system prune``: stopped containers, then dangling images (``all``:
        every image no container uses), then the unused build cache (``all``: all of it),
        each with the filters (``until``, ``label``, ``label!``); the networks no container
        uses; with ``volumes``, the anonymous volumes no container uses."""
        from lamina.engine.filters import parse_filters
        from lamina.engine.views import SystemPrune

        wanted = parse_filters(filters, ("until", "label", "label!"))
        if volumes and "until" in wanted:
            raise InvalidArgument('The "until" filter is not supported with "--volumes"')
        containers, freed = self.prune_containers(filters)
        networks = self.prune_networks([f for f in filters if not f.startswith("until=")]
                                       if volumes else filters)
        removed_volumes: list[str] = []
        if volumes:  # anonymous volumes no container uses (docker 23+)
            removed_volumes, freed_volumes = self.prune_volumes(
                [f for f in filters if f.startswith("label")])
            freed += freed_volumes
        images = self.prune_images(all=all, filters=filters)
        cache = self.prune_build_cache(all=all, filters=filters)
        return SystemPrune(containers, images.removals, cache.removed,
                           freed + images.reclaimed + cache.reclaimed, networks,
                           removed_volumes)

    # --- archives ---------------------------------------------------------------------------
    def save(self, names: Sequence[str], out: IO[bytes]) -> None:
        from lamina.engine import archives

        archives.save(self.store, names, out)
        from lamina.engine import events

        for name in names:
            with suppress(LaminaError):
                image_id = str(self.store.resolve(name).id)
                events.record_image(self.store, "save", image_id, image_id)

    def load(self, source: IO[bytes]) -> list[str]:
        from lamina.engine import archives

        messages = archives.load(self.store, source)
        from lamina.engine import events

        for message in messages:  # "Loaded image: busybox:latest" or "Loaded image ID: sha256:…"
            name = message.partition(": ")[2]
            with suppress(LaminaError):  # (an event is not worth failing the load for)
                image = self.store.resolve(name)
                events.record_image(self.store, "load", str(image.id), name, image.labels)
        return messages

    def import_(self, source: IO[bytes], reference: str | None = None, *,
                changes: Sequence[str] = (), message: str = "", source_name: str = "-") -> str:
        from lamina.engine import archives

        image_id = archives.import_rootfs(self.store, source, reference, changes=changes,
                                          message=message, source_name=source_name)
        from lamina.engine import events

        events.record_image(self.store, "import", image_id, image_id)
        return image_id

    # --- registry logins --------------------------------------------------------------------
    def login(self, server: str | None, username: str, password: str) -> LoginResult:
        from lamina.engine import login

        return login.login(server, username, password, options=self.remote_options,
                           config_dir=self.settings.docker_config)

    def stored_login(self, server: str | None) -> tuple[str, str] | None:
        from lamina.engine import login

        return login.stored_login(server, config_dir=self.settings.docker_config)

    def logout(self, server: str | None) -> LogoutResult:
        from lamina.engine import login

        return login.logout(server, config_dir=self.settings.docker_config)

    # --- registries: pull and push ----------------------------------------------------------
    @cached_property
    def remote_options(self) -> RemoteOptions:
        return self.settings.remote

    def pull(self, name: str, *, platform: str | None = None, all_tags: bool = False,
             progress: Callable[[PullEvent], None] | None = None,
             trust: TrustOptions | None = None,
             options: RemoteOptions | None = None) -> list[PullResult]:
        """``trust``: --disable-content-trust and --signature-policy as given (by default the
        policy files and DOCKER_CONTENT_TRUST decide). ``options``: other remote options than
        lamina's config's (the API service's carry the client's credentials)."""
        from lamina.engine import pull
        from lamina.engine.trust import PullTrust, trust_options

        trust_given = trust_options(self.settings.signatures, trust or self.trust_options)
        results = pull.pull(self.store, name, options or self.remote_options, platform=platform,
                            all_tags=all_tags, progress=progress, trust=PullTrust(trust_given))
        from lamina.engine import events

        for result in results:
            events.record_image(self.store, "pull", result.reference.familiar,
                                result.reference.familiar_name)
        return results

    def push(self, name: str, *, all_tags: bool = False,
             progress: Callable[[PullEvent], None] | None = None,
             signing: PushSigning | None = None,
             options: RemoteOptions | None = None) -> list[PushResult]:
        from lamina.engine import push
        from lamina.engine.trust import PushSigning

        signing = signing or PushSigning()
        signing.prepare(self.settings.signatures)

        results = push.push(self.store, name, options or self.remote_options, all_tags=all_tags,
                            progress=progress, signing=signing)
        from lamina.engine import events

        for result in results:
            events.record_image(self.store, "push", result.reference.familiar,
                                result.reference.familiar_name)
        return results

    # --- manifest lists (multi-platform indexes) --------------------------------------------
    def manifest_create(self, name: str, manifests: Sequence[str], *,
                        amend: bool = False) -> str:
        from lamina.engine import manifests as _manifests

        return _manifests.create(self.store, name, manifests, self.remote_options, amend=amend)

    def manifest_annotate(self, name: str, manifest: str, *, os: str | None = None,
                          arch: str | None = None, variant: str | None = None,
                          os_features: Sequence[str] = (),
                          os_version: str | None = None) -> None:
        from lamina.engine import manifests as _manifests

        _manifests.annotate(self.store, name, manifest, os=os, arch=arch, variant=variant,
                            os_features=os_features, os_version=os_version)

    def manifest_inspect(self, name: str) -> tuple[bytes, bool]:
        from lamina.engine import manifests as _manifests

        return _manifests.inspect(self.store, name, self.remote_options)

    def manifest_push(self, name: str, *, purge: bool = False) -> str:
        from lamina.engine import manifests as _manifests

        return str(_manifests.push(self.store, name, self.remote_options, purge=purge))

    def manifest_remove(self, names: Sequence[str]) -> list[str]:
        from lamina.engine import manifests as _manifests

        return _manifests.remove(self.store, names)

    # --- events -----------------------------------------------------------------------------
    def events(self, *, since: float | None = None, until: float | None = None,
               filters: EventFilter | None = None, follow: bool = True) -> Iterator[Event]:
        """docker's ``GET /events``: the recorded events from ``since`` to ``until`` (epoch
        seconds), then, while ``follow`` and until ``until``, new ones as they come. With
        neither time, only events to come."""
        from lamina.engine import events

        return events.stream(self.store, since=since, until=until, filters=filters,
                             follow=follow)

    # --- the system: version and info -------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """docker info's object, with lamina's values (lamina.engine.system_info)."""
        from lamina.engine import system_info

        return system_info.info(self.store)

    def version(self) -> dict[str, Any]:
        """docker version's object, with lamina's values."""
        from lamina.engine import system_info

        return system_info.version()
