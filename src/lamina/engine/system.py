"""``system df -v``: what each image, container and build cache entry holds on disk, as
docker's verbose disk usage counts it (an image's shared size is what its layers share with
other images; its unique size the rest)."""

from __future__ import annotations

from typing import NamedTuple

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
