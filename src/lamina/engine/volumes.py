"""Volumes: the ``volume`` verbs, and the volumes a container is created with.

A container's volumes are recorded, resolved, in its config's ``MountPoints`` (as docker
keeps them in its config.v2.json): ``{"Type": "volume", "Name", "Source", "Destination",
"RW", "Anonymous"}``. ``-v NAME:/path`` makes the volume on first use; ``-v /path`` and the
image's ``VOLUME``s not covered by another mount get anonymous volumes. The runtime copies the
image's content into an empty volume when the container starts (lamina.runtime.bundle).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from typing import Any, NamedTuple

from lamina.errors import InvalidArgument, NotFound
from lamina.store import ContainerRecord, Store
from lamina.store.volumes import Volume, VolumeStore, check_name, in_use_error

LS_FILTERS = ("dangling", "name", "label", "driver")
PRUNE_FILTERS = ("label", "label!", "all")


class VolumeSpec(NamedTuple):
    """One ``-v`` argument: a host path (bind), a volume name, or None (anonymous)."""

    source: str | None
    destination: str
    mode: str

    @property
    def bind(self) -> bool:
        return self.source is not None and self.source.startswith("/")


def parse_volume(text: str) -> VolumeSpec:
    """``[SRC:]DST[:MODE]`` as docker reads it on Linux."""
    parts = text.split(":")
    if len(parts) == 1:
        source, destination, mode = None, parts[0], ""
    elif len(parts) == 2:
        source, destination, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, destination, mode = parts
    else:
        raise InvalidArgument(f"invalid volume specification: '{text}'")
    if source == "" or not destination:
        raise InvalidArgument(f"invalid volume specification: '{text}'")
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid volume specification: '{text}': invalid mount config "
                              "for type \"volume\": invalid mount path: "
                              f"'{destination}' mount path must be absolute")
    if destination == "/" or os.path.normpath(destination) == "/":
        raise InvalidArgument(f"invalid volume specification: '{text}': invalid mount config "
                              "for type \"bind\": invalid specification: destination can't "
                              "be '/'")
    for flag in filter(None, mode.split(",")):
        if flag not in ("ro", "rw", "z", "Z", "nocopy", "rprivate", "private", "rslave",
                        "slave", "rshared", "shared"):
            raise InvalidArgument(f"invalid mode: {mode}")
    if source is not None and not source.startswith("/"):
        check_name(source)
    return VolumeSpec(source, os.path.normpath(destination), mode)


def mount_points(store: Store, image_volumes: Mapping[str, Any] | None,
                 specs: Sequence[str]) -> list[dict[str, Any]]:
    """The volumes a new container mounts (named ones made when missing), in mount order."""
    volumes = VolumeStore(store.root)
    parsed = [parse_volume(s) for s in specs]
    taken = {p.destination for p in parsed}
    points: list[dict[str, Any]] = []
    for dest in sorted(image_volumes or {}):
        dest = os.path.normpath(dest)
        if dest not in taken and dest != "/":
            points.append(_point(volumes.create(None), dest, ""))
            taken.add(dest)
    for spec in parsed:
        if spec.bind:
            continue
        volume = volumes.create(spec.source) if spec.source is not None else volumes.create(None)
        points.append(_point(volume, spec.destination, spec.mode))
    return points


def _point(volume: Volume, destination: str, mode: str) -> dict[str, Any]:
    flags = mode.split(",")
    return {"Type": "volume", "Name": volume.name, "Source": volume.mountpoint,
            "Destination": destination, "Driver": volume.driver, "Mode": mode,
            "RW": "ro" not in flags, "Propagation": "", "Anonymous": volume.anonymous,
            "NoCopy": "nocopy" in flags, "Tmpfs": volume.tmpfs,
            # a tmpfs volume's mount options: its "o", and "size" as docker's local driver
            "TmpfsOptions": ",".join(filter(None, [
                volume.options.get("o", ""),
                f"size={volume.options['size']}" if volume.options.get("size") else ""]))}


def users(store: Store, name: str) -> list[str]:
    """The IDs of the containers (any state) that mount volume ``name``."""
    return [r.id for r in store.containers.all()
            if any(p.get("Name") == name for p in r.config.get("MountPoints") or ())]


def remove(store: Store, name: str, *, force: bool = False) -> None:
    volumes = VolumeStore(store.root)
    try:
        volumes.get(name)
    except NotFound:
        if force:
            return
        raise NotFound(f"get {name}: no such volume") from None
    holders = users(store, name)
    if holders:
        raise in_use_error(name, holders)
    volumes.remove(name)


def remove_anonymous(store: Store, record: ContainerRecord) -> None:
    """``rm -v``: the container's anonymous volumes that no other container uses."""
    volumes = VolumeStore(store.root)
    for point in record.config.get("MountPoints") or ():
        if point.get("Anonymous") and not [u for u in users(store, point["Name"])
                                           if u != record.id]:
            with suppress(NotFound):
                volumes.remove(point["Name"])


def listing(store: Store, filters: Sequence[str] = ()) -> list[Volume]:
    from lamina.engine.filters import match_labels, parse_filters

    wanted = parse_filters(filters, LS_FILTERS)
    used = _used(store)
    out = []
    for volume in VolumeStore(store.root).all():
        if "dangling" in wanted:
            values = wanted["dangling"]
            for value in values:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise InvalidArgument(f"invalid filter 'dangling={value}'")
            dangling = values[-1].lower() in ("true", "1")
            if (volume.name not in used) != dangling:
                continue
        if "name" in wanted and not any(n in volume.name for n in wanted["name"]):
            continue
        if "driver" in wanted and volume.driver not in wanted["driver"]:
            continue
        if "label" in wanted and not match_labels(wanted["label"], volume.labels):
            continue
        out.append(volume)
    return out


def _used(store: Store) -> set[str]:
    return {p.get("Name") for r in store.containers.all()
            for p in r.config.get("MountPoints") or ()}


def prune(store: Store, filters: Sequence[str] = (), *, all: bool = False
          ) -> tuple[list[str], int]:
    """docker 23+: unused anonymous volumes; with ``-a`` (or ``all=true``) named ones too."""
    from lamina.engine.filters import match_prune_labels, parse_filters

    wanted = parse_filters(filters, PRUNE_FILTERS)
    if "all" in wanted:
        all = all or wanted["all"][-1].lower() in ("true", "1")
    volumes = VolumeStore(store.root)
    used = _used(store)
    removed: list[str] = []
    reclaimed = 0
    for volume in volumes.all():
        if volume.name in used or not (all or volume.anonymous):
            continue
        if not match_prune_labels(wanted, dict(volume.labels)):
            continue
        reclaimed += volumes.size(volume)
        volumes.remove(volume.name)
        removed.append(volume.name)
    return removed, reclaimed


def parse_options(pairs: Iterable[str], what: str = "opt") -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f'invalid argument "{pair}" for "--{what}" flag: '
                                  f"bad format for {what}: {pair}")
        out[key] = value
    return out
