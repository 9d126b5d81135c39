"""``system df -v``: what each image, container and build cache entry holds on disk, as
docker's verbose disk usage counts it (an image's shared size is what its layers share with
other images; its unique size the rest)."""

from __future__ import annotations

from contextlib import suppress
from typing import NamedTuple

from lamina.errors import NotFound
from lamina.store import Store


class ImageUsage(NamedTuple):
    id: str
    repository: str
    tag: str
    created: float
    size: int
    shared: int
    containers: int


def image_usage(store: Store) -> list[ImageUsage]:
    """One row per repository:tag (``<none>`` for untagged top images), newest first."""
    from lamina.engine.images import ImageGraph, created_epoch

    graph = ImageGraph(store)
    users: dict[str, int] = {}
    for record in graph.records:
        for layer in record.layers:
            users[layer.chain_id] = users.get(layer.chain_id, 0) + 1
    rows = []
    for record in graph.records:
        if graph.is_intermediate(record):
            continue  # docker's verbose df lists the images `images` lists
        shared = sum(layer.unpacked_size for layer in record.layers if users[layer.chain_id] > 1)
        count = graph.containers.get(record.id, 0)
        created = created_epoch(record.created)
        names = [(t.familiar_name, t.tag or "<none>") for t in record.tags] or [
            ("<none>", "<none>")]
        rows += [ImageUsage(str(record.id), repo, tag, created, record.size, shared, count)
                 for repo, tag in names]
    rows.sort(key=lambda r: r.created, reverse=True)
    return rows


class TreeImage(NamedTuple):
    """``image ls --tree``: an image, its names, and the platform manifest it was stored as."""

    id: str
    names: list[str]  # repository:tag, or "<untagged>"
    created: float
    disk_usage: int  # unpacked, as docker counts it
    content_size: int  # the compressed blobs: config, manifest and layers
    used: bool  # a container uses it
    platform: str  # os/architecture[/variant]
    manifest: str  # the platform manifest's digest


def image_tree(store: Store, *, all: bool = False) -> list[TreeImage]:
    """Newest first; untagged images only with ``all`` (docker 28 hides them by default)."""
    from lamina.engine.images import ImageGraph, created_epoch

    graph = ImageGraph(store)
    result = []
    for record in graph.records:
        if not record.tags and not all:
            continue
        content = sum(layer.size for layer in record.layers)
        for digest in (record.id, record.manifest_digest):
            with suppress(NotFound):  # (only shown: a missing blob counts as nothing)
                content += store.blobs.size(digest)
        platform = "/".join(p for p in (record.os or "unknown", record.architecture or "unknown",
                                        record.variant) if p)
        result.append(TreeImage(str(record.id), [t.familiar for t in record.tags] or
                                ["<untagged>"], created_epoch(record.created), record.size,
                                content, bool(graph.containers.get(record.id)), platform,
                                str(record.manifest_digest)))
    result.sort(key=lambda t: t.created, reverse=True)
    return result
