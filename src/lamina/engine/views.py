"""What the engine hands to its callers: plain values, ready to render, no store handles.

Field names follow docker's Go template fields (``.Repository``, ``.ID``...), so a user's
``--format`` strings carry over unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageRow:
    """One line of ``lamina images``: an image under one repository:tag (or <none>)."""

    id: str  # full "sha256:..."
    repository: str
    tag: str
    digest: str
    created: float  # epoch seconds, 0 when unknown
    size: int
    containers: int
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryRow:
    """One line of ``lamina history``: a step of the image's history, newest first."""

    id: str  # "sha256:..." or "<missing>"
    created: float
    created_by: str
    size: int
    comment: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Removal:
    """One line of rmi or prune output: ("Untagged", "nginx:latest") or ("Deleted", "sha256:...")."""

    action: str
    value: str
    image_id: str = field(default="", compare=False)  # the image it was done to (for events)


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed, and the bytes it reclaimed."""

    removals: list[Removal]
    reclaimed: int


@dataclass(frozen=True)
class DiskUsage:
    """``lamina system df``: images and containers, their sizes and what is reclaimable."""

    images_total: int
    images_active: int
    images_size: int
    images_reclaimable: int
    containers_total: int = 0
    containers_active: int = 0
    containers_size: int = 0
    containers_reclaimable: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemPrune:
    """What ``system prune`` removed: containers, image lines, build cache keys, and bytes."""

    containers: list[str]
    images: list[Removal]
    cache: list[str]
    reclaimed: int
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
