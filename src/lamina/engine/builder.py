"""The build cache as docker's ``builder prune`` and ``system df`` see it.

lamina's build cache is a table of step keys, each naming the image that step made (one layer
per step; ``lamina.build``). An entry is *in use* while its image is needed anyway: tagged,
the parent of another image, or used by a container. Pruning removes unused entries (all
entries with ``all``), and with them the images only the cache kept; an image still needed
stays, and only its cache entry goes (the next build of that step runs it again).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from typing import NamedTuple

from lamina.engine.filters import parse_filters, prune_until
from lamina.errors import Conflict, InvalidArgument, LaminaError, NotFound
from lamina.model.digest import Digest
from lamina.store import Store

BUILDER_PRUNE_FILTERS = ("until", "id", "type", "description", "inuse", "private", "shared",
                         "label", "label!")


class CacheEntry(NamedTuple):
    key: str  # the step's cache key (docker's CACHE ID: its first 25 characters)
    image_id: str
    created: float
    size: int  # the layer the step added (0 for a step that adds none)
    in_use: bool
    description: str  # the step, as history records it ("RUN /bin/sh -c make")


class CachePrune(NamedTuple):
    removed: list[str]  # cache keys
    reclaimed: int


def entries(store: Store) -> list[CacheEntry]:
    """Every cache entry, oldest first."""
    from lamina.engine.images import ImageGraph

    rows = store.db.read(_rows)
    if not rows:
        return []
    graph = ImageGraph(store)
    result = []
    for key, image_id, created in rows:
        image = graph.by_id.get(Digest(image_id))
        if image is None:
            continue
        parent = graph.by_id.get(image.parent) if image.parent else None
        own = [layer for layer in image.layers
               if parent is None or layer.chain_id not in {p.chain_id for p in parent.layers}]
        in_use = bool(image.tags or graph.children.get(image.id)
                      or graph.containers.get(image.id))
        result.append(CacheEntry(key, str(image.id), created,
                                 sum(layer.unpacked_size for layer in own), in_use,
                                 _description(store, image.id)))
    return result


def _rows(conn: sqlite3.Connection) -> list[tuple[str, str, float]]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                          " AND name = 'build_cache'").fetchone()
    if exists is None:
        return []  # a store that never built
    return [(str(k), str(i), float(c)) for k, i, c in conn.execute(
        "SELECT key, image_id, created FROM build_cache ORDER BY created, key").fetchall()]


def _description(store: Store, image_id: Digest) -> str:
    from lamina.model.config import ImageConfig

    try:
        history = ImageConfig.parse(store.blobs.read(image_id)).history
    except LaminaError:  # (a description is only shown: a damaged config shows none)
        return ""
    return history[-1].created_by or "" if history else ""


def prune(store: Store, *, all: bool = False, filters: Sequence[str] = (),
          keep_storage: int = 0) -> CachePrune:
    """docker's ``builder prune``: unused entries (``all``: every entry) older than ``until``,
    oldest first, until what is left weighs no more than ``keep_storage`` (0: no limit)."""
    wanted = parse_filters(filters, BUILDER_PRUNE_FILTERS)
    until = prune_until(wanted.get("until"))
    if keep_storage < 0:
        raise InvalidArgument("--keep-storage must not be negative")
    current = entries(store)
    left = sum(e.size for e in current)
    chosen = []
    for entry in current:
        if keep_storage and left <= keep_storage:
            break
        if (entry.in_use and not all) or (until is not None and entry.created > until):
            continue
        if not _matches(entry, wanted):
            continue
        chosen.append(entry)
        left -= entry.size
    if not chosen:
        return CachePrune([], 0)
    from lamina.engine.images import ImageGraph, layer_sizes, reclaimed_since

    before = layer_sizes(store)
    keys = [e.key for e in chosen]
    store.db.write(lambda conn: conn.executemany(
        "DELETE FROM build_cache WHERE key = ?", [(k,) for k in keys]))
    # The images only the cache kept go with their entries (their rows are gone already).

    cached = {e.image_id for e in chosen}
    while True:  # (a step's image may be left dangling once the next step's is gone)
        graph = ImageGraph(store, holds=True)  # (a build under way holds its steps' images)
        gone = [r for r in graph.records if str(r.id) in cached and graph.is_dangling(r)
                and not r.repo_digests]
        if not gone:
            break
        for image in gone:
            cached.discard(str(image.id))
            with suppress(Conflict, NotFound):  # used or removed by another process since
                store.delete_image(image.id)
    return CachePrune(keys, reclaimed_since(store, before))


def _matches(entry: CacheEntry, wanted: dict[str, list[str]]) -> bool:
    if "id" in wanted and not any(entry.key.startswith(v) for v in wanted["id"]):
        return False
    if "inuse" in wanted and not entry.in_use:
        return False
    if "type" in wanted and "regular" not in wanted["type"]:
        return False  # lamina's entries are all of docker's "regular" type
    if "description" in wanted and not any(v in entry.description
                                           for v in wanted["description"]):
        return False
    return "label" not in wanted  # (cache entries carry no labels)

