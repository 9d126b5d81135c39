"""The image verbs over the local store: images, tag, history, inspect, rmi, prune, system df.

Each function takes the Store and returns plain values (``lamina.engine.views``); nothing here
prints. The rules for what is dangling, what rmi untags and what it deletes follow docker's
daemon, so scripts written against docker behave the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from lamina.engine.filters import (
    match_labels,
    match_prune_labels,
    match_reference,
    parse_bool,
    parse_filters,
    prune_until,
)
from lamina.engine.views import DiskUsage, HistoryRow, ImageRow, PruneReport, Removal
from lamina.errors import Conflict, InvalidArgument, InvalidReference, NotFound
from lamina.model.config import ImageConfig
from lamina.model.reference import Reference, tag_target
from lamina.store import ImageRecord, Store

IMAGES_FILTERS = ("dangling", "label", "reference", "before", "since")
PRUNE_FILTERS = ("until", "label", "label!")


@functools.lru_cache(maxsize=4096)  # (a long-lived process lists the same images again)
def created_epoch(created: str | None) -> float:
    if not created:
        return 0.0
    from lamina.model.units import parse_rfc3339

    try:
        return parse_rfc3339(created)
    except ValueError:
        return 0.0


class ImageGraph:
    """One snapshot of every image, with the relations docker's rules need."""

    def __init__(self, store: Store, *, with_layers: bool = True, holds: bool = False) -> None:
        # Holds (``lamina.store.holds``) first: an image held after this reading and deleted
        # anyway is refused by the database, which the deleters take as "in use".
        self.held = store.held_images() if holds else set()
        self.records = store.images(with_layers=with_layers)
        self.by_id = {r.id: r for r in self.records}
        self.children: dict[str, list[str]] = {}
        for r in self.records:
            if r.parent and r.parent in self.by_id:
                self.children.setdefault(r.parent, []).append(r.id)
        self.containers = store.container_counts()

    def in_use(self, r: ImageRecord) -> bool:
        """Used by a container, or held by a command about to make one (or to tag it)."""
        return bool(self.containers.get(r.id)) or r.id in self.held

    def is_dangling(self, r: ImageRecord) -> bool:
        """Untagged, parent of no image, used by no container (nor held)."""
        return not r.tags and not self.children.get(r.id) and not self.in_use(r)

    def is_intermediate(self, r: ImageRecord) -> bool:
        return not r.tags and not r.repo_digests and bool(self.children.get(r.id))


def list_images(store: Store, *, all: bool = False, filters: Sequence[str] = (),
                digests: bool = False) -> list[ImageRow]:
    """docker's rows: one per repository:tag (times each of its repo digests, with
    ``digests``), then one per repository known only by digest."""
    wanted = parse_filters(filters, IMAGES_FILTERS)
    graph = ImageGraph(store, with_layers=False)
    dangling = None
    if "dangling" in wanted:
        dangling = parse_bool("dangling", wanted["dangling"][-1])
    before = _created_bound(store, wanted.get("before"))
    since = _created_bound(store, wanted.get("since"))

    rows: list[ImageRow] = []
    created_of = {r.id: created_epoch(r.created) for r in graph.records}
    for r in sorted(graph.records, key=lambda r: (created_of[r.id], r.added), reverse=True):
        created = created_of[r.id]
        if dangling is not None and graph.is_dangling(r) != dangling:
            continue
        if not all and dangling is None and graph.is_intermediate(r):
            continue
        if before is not None and created >= before:
            continue
        if since is not None and created <= since:
            continue
        labels = _labels(r)
        if "label" in wanted and not match_labels(wanted["label"], labels):
            continue
        containers = graph.containers.get(r.id, 0)
        for repository, tag, digest in _image_names(r, digests):
            if "reference" in wanted and (
                repository == "<none>"
                or not any(match_reference(p, repository, tag if tag != "<none>" else None)
                           for p in wanted["reference"])
            ):
                continue
            rows.append(ImageRow(r.id, repository, tag, digest, created, r.size, containers, labels))
    return rows


def _image_names(r: ImageRecord, show_digests: bool) -> list[tuple[str, str, str]]:
    """(repository, tag, digest) per row, as docker lists them; <none> where absent."""
    by_repository: dict[str, list[str]] = {}
    for repo_digest in r.repo_digests:
        name, _, digest = repo_digest.partition("@")
        by_repository.setdefault(name, []).append(digest)
    names = []
    for ref in r.tags:
        name = ref.familiar_name
        digests = by_repository.get(name, []) if show_digests else []
        names += [(name, ref.tag or "<none>", d) for d in digests or ["<none>"]]
    tagged = {ref.familiar_name for ref in r.tags}
    for name, digests in by_repository.items():
        if name not in tagged:  # known by digest only: a row of its own
            names += [(name, "<none>", d) for d in (digests if show_digests else ["<none>"])]
    return names or [("<none>", "<none>", "<none>")]


def _labels(r: ImageRecord) -> dict[str, str]:
    return {str(k): str(v) for k, v in r.labels.items()}


def store_config(store: Store, r: ImageRecord) -> ImageConfig:
    return ImageConfig.parse(store.blobs.read(r.id))


def _created_bound(store: Store, values: list[str] | None) -> float | None:
    """The creation time of the image a before= or since= filter names."""
    if not values:
        return None
    return created_epoch(store.resolve(values[-1]).created)


def tag(store: Store, source: str, target: str) -> None:
    image = store.resolve(source)
    store.tag(image.id, tag_target(target))


def history(store: Store, name: str) -> list[HistoryRow]:
    """Newest step first; rows that belong to a local image show its ID, others <missing>."""
    image = store.resolve(name)
    config = store_config(store, image)
    sizes = [layer.unpacked_size for layer in image.layers]
    # Which history index ends each local ancestor: that row shows the ancestor's ID.
    owners: dict[int, ImageRecord] = {len(config.history) - 1: image}
    parent_id = image.parent
    while parent_id:
        try:
            parent = store.image(parent_id)
        except NotFound:
            break
        owners.setdefault(len(store_config(store, parent).history) - 1, parent)
        parent_id = parent.parent

    rows: list[HistoryRow] = []
    layer_index = 0
    for index, entry in enumerate(config.history):
        size = 0
        if not entry.empty_layer and layer_index < len(sizes):
            size = sizes[layer_index]
            layer_index += 1
        owner = owners.get(index)
        rows.append(HistoryRow(
            id=owner.id if owner else "<missing>",
            created=created_epoch(entry.created),
            created_by=entry.created_by or "",
            size=size,
            comment=entry.comment or "",
            tags=tuple(t.familiar for t in owner.tags) if owner else (),
        ))
    if not config.history:
        # An image without history still has layers: show one row per layer, as docker does.
        for size in sizes:
            rows.append(HistoryRow("<missing>", created_epoch(config.created), "", size, ""))
        if rows:
            rows[-1] = HistoryRow(image.id, rows[-1].created, "", rows[-1].size, "")
    rows.reverse()
    return rows


def inspect_image(store: Store, name: str) -> dict[str, Any]:
    """docker's image inspect object (API 1.50 field set)."""
    image = store.resolve(name)
    config = store_config(store, image)
    data = config.data
    result: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": [t.familiar for t in image.tags],
        "RepoDigests": [_familiar_repo_digest(d) for d in image.repo_digests],
        "Parent": image.parent or "",
        "Comment": _history_comment(config),
        "Created": config.created or "0001-01-01T00:00:00Z",
        "DockerVersion": data.get("docker_version", "") if isinstance(data.get("docker_version"), str) else "",
        "Author": config.author or "",
        "Config": config.config or None,
        "Architecture": config.architecture or "",
        "Os": config.os or "",
        "Size": image.size,
        "GraphDriver": {
            "Data": {"LowerDir": ":".join(str(store.snapshots.path(layer.chain_id))
                                          for layer in reversed(image.layers))},
            "Name": "overlay",
        },
        "RootFS": {"Type": "layers", "Layers": list(config.diff_ids)},
        "Metadata": {"LastTagTime": _rfc3339(image.added) if image.tags else "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": image.manifest_media_type,
            "digest": image.manifest_digest,
            "size": store.blobs.size(image.manifest_digest),
        },
    }
    if config.variant:
        result["Variant"] = config.variant
    from lamina.trust.local import summary

    signatures = summary(store.root, image.id)  # only for images pulled under a policy
    if signatures is not None:
        result["Signatures"] = signatures
    return result


def _history_comment(config: ImageConfig) -> str:
    return config.history[-1].comment or "" if config.history else ""


def _familiar_repo_digest(text: str) -> str:
    name, _, digest = text.partition("@")
    try:
        return Reference.parse(name).familiar_name + "@" + digest
    except InvalidReference:
        return text


def _rfc3339(epoch: float) -> str:
    from lamina.model.units import format_rfc3339nano

    return format_rfc3339nano(epoch)


def remove_images(
    store: Store, names: Iterable[str], *, force: bool = False, prune: bool = True
) -> tuple[list[Removal], list[Exception]]:
    """``rmi``: every name is tried; the removals done and the errors met are both returned."""
    removals: list[Removal] = []
    failures: list[Exception] = []
    for name in names:
        try:
            removals.extend(_remove_one(store, name, force=force, prune=prune))
        except (NotFound, Conflict, InvalidArgument) as exc:
            failures.append(exc)
    return removals, failures


def _remove_one(store: Store, name: str, *, force: bool, prune: bool) -> list[Removal]:
    image = store.resolve(name)
    try:
        return _remove_found(store, name, image, force=force, prune=prune)
    except NotFound:
        store.resolve(name)  # removed by another process meanwhile: not found by its name
        raise


def _remove_found(store: Store, name: str, image: ImageRecord, *, force: bool, prune: bool
                  ) -> list[Removal]:
    graph = ImageGraph(store, holds=True)
    ref = _as_reference(name)
    removals: list[Removal] = []
    by_tag = ref is not None and any(t == ref for t in image.tags)
    if by_tag and ref is not None:
        # A name: untag it; the image goes only when that was its last name.
        if len(image.tags) > 1 or (graph.in_use(image) and not force):
            if len(image.tags) == 1:
                raise Conflict(_container_conflict(name, image, graph))
            store.untag(ref)
            return [Removal("Untagged", ref.familiar, str(image.id))]
    else:
        repositories = {t.repository for t in image.tags}
        if len(repositories) > 1 and not force:
            raise Conflict(
                f"conflict: unable to delete {image.id.short} (must be forced) - "
                "image is referenced in multiple repositories"
            )
    if graph.children.get(image.id):
        raise Conflict(
            f"conflict: unable to delete {image.id.short} (cannot be forced) - "
            "image has dependent child images"
        )
    if graph.in_use(image) and not force:
        raise Conflict(_container_conflict(name, image, graph))
    if graph.in_use(image):
        return _force_used(store, image)
    removals.extend(_delete(store, image))
    if prune:
        parent_id = image.parent
        while parent_id:
            graph = ImageGraph(store, holds=True)
            parent = graph.by_id.get(parent_id)
            if parent is None or not graph.is_dangling(parent):
                break
            try:
                removals.extend(_delete(store, parent))
            except (Conflict, NotFound):
                break  # used or removed by another process since: it stays, or is gone
            parent_id = parent.parent
    store.gc()
    return removals


def _force_used(store: Store, image: ImageRecord) -> list[Removal]:
    """``rmi -f`` of an image containers use: never under a running one (docker's hard
    conflict); under stopped ones its names go and the image stays while they need it."""
    for record in store.containers.all():
        if record.image_id == image.id and record.state == "running":
            raise Conflict(
                f"conflict: unable to delete {image.id.short} (cannot be forced) - image is "
                f"being used by running container {record.id[:12]}"
            )
    removals = []
    for ref in image.tags:
        store.untag(ref)
        removals.append(Removal("Untagged", ref.familiar, str(image.id)))
    return removals


def _container_conflict(name: str, image: ImageRecord, graph: ImageGraph) -> str:
    user = ("a container is using" if graph.containers.get(image.id) else
            "a container is being created from")  # (held: lamina.store.holds)
    return (
        f'conflict: unable to remove repository reference "{name}" (must force) - '
        f"{user} its referenced image {image.id.short}"
    )


def _delete(store: Store, image: ImageRecord) -> list[Removal]:
    image_id = str(image.id)
    removals = [Removal("Untagged", t.familiar, image_id) for t in image.tags]
    removals += [Removal("Untagged", _familiar_repo_digest(d), image_id)
                 for d in image.repo_digests]
    store.delete_image(image.id)
    from lamina.trust.local import drop

    drop(store.root, image.id)  # the signatures and verdicts kept beside it go with it
    removals.append(Removal("Deleted", image_id, image_id))
    return removals


def _as_reference(name: str) -> Reference | None:
    """The tagged reference ``name`` means, or None when it is an ID (prefix) or digest."""
    try:
        ref = Reference.parse(name)
    except InvalidReference:
        return None
    if ref.digest is not None:
        return None
    return ref.with_default_tag()


def prune_images(store: Store, *, all: bool = False, filters: Sequence[str] = ()) -> PruneReport:
    """Remove dangling images (or, with ``all``, every image no container uses)."""
    wanted = parse_filters(filters, PRUNE_FILTERS)
    until = prune_until(wanted.get("until"))
    removals: list[Removal] = []
    spared: set[str] = set()
    before = layer_sizes(store)
    while True:
        graph = ImageGraph(store, holds=True)
        victims = [
            r for r in graph.records
            if (graph.is_dangling(r) if not all else
                (not graph.in_use(r) and not graph.children.get(r.id)))
            and (until is None or created_epoch(r.created) < until)
            and _prune_labels_match(r, wanted)
            and r.id not in spared
        ]
        if not victims:
            break
        for r in victims:
            try:
                removals.extend(_delete(store, r))
            except (Conflict, NotFound):
                # Another process made a container of it (or held it, or removed it) since
                # the reading: it is not prune's any more.
                spared.add(r.id)
        # Deleting a child may leave its parent dangling: go round until nothing more goes.
    return PruneReport(removals, reclaimed_since(store, before))


def layer_sizes(store: Store) -> dict[str, int]:
    """Every layer an image holds, with its unpacked size."""
    return {str(layer.chain_id): layer.unpacked_size
            for record in store.images() for layer in record.layers}


def reclaimed_since(store: Store, before: dict[str, int]) -> int:
    """Collect what no image holds any more; the space reclaimed, counted as docker counts it:
    the unpacked size of each layer that went. (lamina also frees the compressed blobs it
    keeps beside them, which docker's figure has no room for.)"""
    store.gc()
    after = layer_sizes(store)
    return sum(size for chain_id, size in before.items() if chain_id not in after)


def _prune_labels_match(r: ImageRecord, wanted: dict[str, list[str]]) -> bool:
    if "label" not in wanted and "label!" not in wanted:
        return True  # without label filters, no config need be read
    return match_prune_labels(wanted, _labels(r))


def disk_usage(store: Store) -> DiskUsage:
    graph = ImageGraph(store)
    active = [r for r in graph.records if graph.containers.get(r.id)]
    # Layers are shared: count each once, and reclaimable is what no active image holds.
    sizes: dict[str, int] = {}
    active_layers: set[str] = set()
    for r in graph.records:
        for layer in r.layers:
            sizes[layer.chain_id] = layer.unpacked_size
            if graph.containers.get(r.id):
                active_layers.add(layer.chain_id)
    total = sum(sizes.values())
    reclaimable = sum(s for c, s in sizes.items() if c not in active_layers)
    return DiskUsage(len(graph.records), len(active), total, reclaimable,
                     *_container_usage(store))


def _container_usage(store: Store) -> tuple[int, int, int, int]:
    """Containers: how many, how many run, their writable layers' size, and what is not
    running's."""
    from lamina.store.snapshots import disk_usage as tree_size

    records = store.containers.all()
    running = size = idle = 0
    for record in records:
        try:
            used = tree_size(store.containers_dir / record.id / "upper")
        except OSError:
            used = 0
        size += used
        if record.state == "running":
            running += 1
        else:
            idle += used
    return len(records), running, size, idle
