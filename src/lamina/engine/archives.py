"""save, load and import: images to and from tar archives and root filesystem tarballs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any, BinaryIO, cast

from lamina.engine.changes import apply_changes
from lamina.engine.ingest import ingest_image
from lamina.errors import InvalidReference, NotFound
from lamina.image import mutate
from lamina.model import mediatype
from lamina.model.platform import Platform
from lamina.model.reference import Reference, tag_target
from lamina.store import Adding, ImageRecord, LayerRecord, Store
from lamina.store.view import StoreImage


def save(store: Store, names: Sequence[str], out: IO[bytes]) -> None:
    """Write docker 25+'s archive of the named images.

    As docker does: a repository name without a tag saves every tag of it; an ID saves the
    image without names; ``name:tag`` saves that tag.
    """
    from lamina.image.archive import write_docker_archive

    chosen: dict[str, tuple[ImageRecord, list[Reference]]] = {}
    # Each image is held until written: another process's rmi or prune cannot take its blobs
    # half-way (lamina.store.holds).
    with store.holding() as hold:
        for name in names:
            for record, refs in _select(store, name):
                record = hold.resolve(str(record.id))
                entry = chosen.setdefault(record.id, (record, []))
                entry[1].extend(r for r in refs if r not in entry[1])
        images = [(StoreImage(store.blobs, record), refs) for record, refs in chosen.values()]
        write_docker_archive(images, cast(BinaryIO, out))


def _select(store: Store, name: str) -> list[tuple[ImageRecord, list[Reference]]]:
    try:
        ref: Reference | None = Reference.parse(name)
    except InvalidReference:
        ref = None
    if ref is not None and ref.is_name_only:
        tagged = [(r, [t for t in r.tags if t.repository == ref.repository])
                  for r in store.images()]
        found = [(r, refs) for r, refs in tagged if refs]
        if found:
            return found
    record = store.resolve(name)
    if ref is not None and ref.digest is None and not ref.is_name_only:
        return [(record, [ref])]
    if ref is not None and ref.is_name_only and ref.with_default_tag() in record.tags:
        return [(record, [ref.with_default_tag()])]
    return [(record, [])]


def load(store: Store, source: IO[bytes]) -> list[str]:
    """Commit every image of a docker or OCI archive; return docker's report lines."""
    from lamina.image.archive import read_archive

    messages: list[str] = []
    # The archive's copy lives in a locked scratch directory, so no other process's clean-up
    # takes it away mid-load, and a killed load leaves nothing that outlives it.
    # Each image is held from its record until its tags are on it (lamina.store.holds).
    with store.scratch.directory("archive") as scratch, store.holding(), \
            read_archive(cast(BinaryIO, source), tmp_dir=scratch) as archive:
        for loaded in archive.images:
            record = ingest_image(store, loaded.image)
            if not loaded.tags:
                messages.append(f"Loaded image ID: {record.id}")
            for ref in loaded.tags:
                messages.extend(_move_tag(store, record, ref))
                messages.append(f"Loaded image: {ref.familiar}")
    return messages


def _move_tag(store: Store, record: ImageRecord, ref: Reference) -> list[str]:
    """Point ``ref`` at ``record``; say so when it took the name from another image."""
    try:
        previous = store.resolve(str(ref))
    except NotFound:
        previous = None
    store.tag(record.id, ref)
    if previous is not None and previous.id != record.id:
        return [f"The image {ref.familiar} already exists, renaming the old one with ID "
                f"{previous.id} to empty string"]
    return []


def import_rootfs(store: Store, source: IO[bytes], reference: str | None, *,
                  changes: Sequence[str] = (), message: str = "",
                  source_name: str = "-") -> str:
    """Make a one-layer image from a root filesystem tarball (plain or compressed)."""
    ref = tag_target(reference) if reference else None
    container_config = apply_changes({}, changes)  # bad changes fail before any work

    with store.adding() as tx:
        record = _import_layer(tx, source, container_config, message, source_name)
        if ref is not None:  # (inside: held until tagged, see lamina.store.holds)
            _move_tag(store, record, ref)
    return str(record.id)


def _import_layer(tx: Adding, source: IO[bytes], container_config: dict[str, Any],
                  message: str, source_name: str) -> ImageRecord:
    from lamina.image.compression import compress_gzip, open_decompressed

    with tx.store.blobs.writer(what="imported layer") as writer:
        tar = open_decompressed(cast(BinaryIO, source), None, tx.max_layer_size)
        try:
            digests = compress_gzip(cast(BinaryIO, tar), cast(BinaryIO, writer))
        finally:
            tar.close()
    # The safe extractor is also the validator: a hostile tar never becomes an image.
    layer = tx.unpack_blob(LayerRecord(digests.diff_id, digests.diff_id, digests.digest,
                                       mediatype.OCI_LAYER_GZIP, digests.size, 0))
    host = Platform.host()
    data: dict[str, Any] = {"architecture": host.architecture, "os": host.os,
                            "config": container_config}
    step = mutate.Step(mutate.timestamp(), comment=message or f"Imported from {source_name}")
    data = mutate.append(data, step, layer.diff_id)
    if host.variant:
        data["variant"] = host.variant
    config, manifest = mutate.new_image(data, [layer])
    return tx.record(config, manifest, [layer])
