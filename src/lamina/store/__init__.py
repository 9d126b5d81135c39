"""The local store: content-addressed blobs, SQLite metadata, unpacked layer snapshots, GC.

Layout under the root (chosen by the engine's settings: ``lamina.engine.settings``)::

    blobs/sha256/<hex>        blobs, as in an OCI image layout
    snapshots/sha256/<hex>/   one unpacked layer per ChainID: fs/ (an overlayfs lowerdir), meta.json
    containers/<id>/          containers (upper, work, config)
    tmp/                      files being written, renamed into place once complete
    lamina.db                 SQLite (WAL): images, layers, tags, repo digests, manifests, containers,
                              events, build cache, holds (images a command is about to use)
    gc.lock                   the lease that keeps gc off content being added
    tmp/hold-*                the locked files that mark holders alive (``lamina.store.holds``)

Files first, metadata after; deletion the other way round. So the metadata only ever refers to
complete files, and ``kill -9`` at any moment leaves a store that works: leftovers in ``tmp/``
are removed at the next open, unreferenced files at the next gc.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import StorageError
from lamina.model import mediatype
from lamina.model.digest import Digest
from lamina.model.limits import LayerLimits
from lamina.model.reference import Reference
from lamina.store.adding import MAX_LAYER_SIZE, Adding
from lamina.store.blobs import BlobStore, BlobWriter
from lamina.store.build_cache import BuildCache
from lamina.store.catalog import Catalog
from lamina.store.containers import ContainerRecord, ContainerTable
from lamina.store.db import Database
from lamina.store.events import EventLog
from lamina.store.holds import Holding, ImageHold
from lamina.store.lease import Lease
from lamina.store.records import ImageRecord, LayerRecord
from lamina.store.scratch import Scratch
from lamina.store.snapshots import SnapshotStore

if TYPE_CHECKING:  # only put_image needs them, and its callers have them loaded
    from lamina.model.config import ImageConfig
    from lamina.model.manifest import Manifest

__all__ = [
    "MAX_LAYER_SIZE",
    "Adding",
    "BlobStore",
    "BlobWriter",
    "BuildCache",
    "ContainerRecord",
    "ImageHold",
    "ImageRecord",
    "LayerRecord",
    "SnapshotStore",
    "Store",
]

DB_NAME = "lamina.db"


class Store:
    """A lamina store rooted at ``root``; creates its layout on first use."""

    def __init__(self, root: Path | str, *, lock_wait: float | None = None,
                 limits: LayerLimits | Callable[[], LayerLimits] | None = None) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Snapshots hold setuid binaries of images: nobody else may reach them.
            for sub in ("blobs/sha256", "snapshots/sha256", "containers", "tmp"):
                (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create the store at {self.root}: {err}") from err
        self.scratch = Scratch(self.root / "tmp")
        self.scratch.clean()  # one empty-directory read when nothing crashed
        self._lease = Lease(self.root / "gc.lock")
        self.blobs = BlobStore(self.root / "blobs", self.scratch, self._lease)
        self.snapshots = SnapshotStore(self.root / "snapshots", self.scratch, self._lease,
                                       limits=limits)
        if lock_wait is None:
            self.db = Database(self.root / DB_NAME)
        else:
            self.db = Database(self.root / DB_NAME, lock_wait=lock_wait)
        self.catalog = Catalog(self.db)
        self.containers = ContainerTable(self.db)
        self.events = EventLog(self.db)
        self.build_cache = BuildCache(self.db)
        self.holds = Holding(self)
        self._adding = 0  # transactions open (``adding``): only the outermost cleans up

    @property
    def containers_dir(self) -> Path:
        return self.root / "containers"

    # ------------------------------------------------------------------ images

    def put_image(
        self,
        config: ImageConfig,
        manifest: Manifest,
        layers: Sequence[LayerRecord],
        *,
        parent: Digest | None = None,
    ) -> ImageRecord:
        """Record an image whose config, manifest, layer blobs and snapshots are stored.

        One transaction; idempotent. Raises StorageError if a file it needs is missing, so
        the metadata never references a file that is not complete in the store.
        """
        self._lease.hold()
        missing = [str(config.id)] if not self.blobs.has(config.id) else []
        if not self.blobs.has(manifest.digest):
            missing.append(str(manifest.digest))
        for layer in layers:
            if not mediatype.is_foreign(layer.media_type) and not self.blobs.has(layer.digest):
                missing.append(str(layer.digest))
            if not self.snapshots.has(layer.chain_id):
                missing.append(f"snapshot {layer.chain_id}")
        if missing:
            raise StorageError(
                f"cannot record image {config.id.short}: not in the store: {', '.join(missing)}"
            )
        hold = self.holds.current
        record = self.catalog.put_image(config, manifest, layers, parent=parent, hold=hold)
        if hold is not None:
            hold.recorded.append(record)
        return record

    def add_manifest(
        self, digest: Digest, media_type: str, size: int, image_id: Digest | None = None
    ) -> None:
        """Keep another stored manifest or index (of ``image_id``, or named by a repo digest)."""
        if not self.blobs.has(digest):
            raise StorageError(f"cannot record manifest {digest}: its blob is not in the store")
        self.catalog.add_manifest(digest, media_type, size, image_id)

    @contextmanager
    def holding(self) -> Iterator[ImageHold]:
        """Keep the images found with ``hold.resolve`` or recorded inside the block from
        ``rmi`` and ``prune`` until it ends (``lamina.store.holds``); blocks of one thread
        nest, and the outermost one releases. ``adding()`` opens one."""
        with self.holds.block() as hold:
            yield hold

    def held_images(self) -> set[str]:
        """The IDs of the images live processes hold (rows of dead ones are removed)."""
        return self.holds.live_images()

    def images(self, *, with_layers: bool = True) -> list[ImageRecord]:
        return self.catalog.images(with_layers=with_layers)

    def image(self, image_id: Digest | str) -> ImageRecord:
        return self.catalog.image(image_id)

    def resolve(self, text: str) -> ImageRecord:
        """An image by reference, full ID or unique ID prefix, as docker finds it.

        ``nginx`` means ``docker.io/library/nginx:latest``; ``name@digest`` looks up repo
        digests; an ambiguous prefix raises InvalidArgument ("multiple IDs found with provided
        prefix: abc") and an unknown name NotFound ("No such image: nginx:latest").
        """
        return self.catalog.resolve(text)

    def tag(self, image_id: Digest, ref: Reference) -> Reference:
        return self.catalog.tag(image_id, ref)

    def untag(self, ref: Reference) -> bool:
        return self.catalog.untag(ref)

    def tags_of(self, image_id: Digest) -> list[Reference]:
        return self.catalog.tags_of(image_id)

    def add_repo_digest(
        self, image_id: Digest, repository: str | Reference, manifest_digest: Digest
    ) -> None:
        self.catalog.add_repo_digest(image_id, repository, manifest_digest)

    def delete_image(self, image_id: Digest) -> None:
        """Remove the image's metadata (one transaction); ``gc()`` then removes its files."""
        self.catalog.delete_image(image_id)

    def children(self, image_id: Digest) -> list[Digest]:
        return self.catalog.children(image_id)

    def container_counts(self) -> dict[str, int]:
        """How many containers use each image (images no container uses are absent)."""
        return self.db.read(
            lambda conn: dict(
                conn.execute(
                    "SELECT image_id, count(*) FROM containers GROUP BY image_id"
                ).fetchall()
            )
        )

    # ------------------------------------------------------------------ housekeeping

    def gc(self, *, wait: float | None = 3.0) -> int:
        """Remove blobs and snapshots no image references; return the bytes reclaimed.

        Waits up to ``wait`` s (None: forever) for processes adding content (``adding()``) to
        finish; if they do not, leaves the files for a later gc and returns 0. Content added by
        this Store and not yet recorded is not protected from this Store's own gc.
        """
        from lamina.store.gc import collect

        return collect(self.db, self.blobs, self.snapshots, self.scratch, self._lease, wait=wait)

    def audit(self) -> list[str]:
        """Check the whole store (reads every blob); return the problems found, one per line."""
        from lamina.store.audit import audit

        return audit(self.catalog, self.blobs, self.snapshots)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group several catalogue writes into one transaction (BEGIN IMMEDIATE, retried)."""
        with self.db.transaction() as conn:
            yield conn

    @contextmanager
    def adding(self, *, max_layer_size: int | None = None) -> Iterator[Adding]:
        """The transaction that adds images (``lamina.store.adding``): everything stored inside
        is kept from gc until the block ends; if the block fails, what it stored and no image
        uses is removed (by the outermost block, once it has let go of the lease). A layer may
        expand to ``max_layer_size`` bytes (default: the store's limits, ``[layers]``)."""
        if max_layer_size is None:
            max_layer_size = self.snapshots.limits.max_size
        outermost = self._adding == 0
        self._adding += 1
        try:
            # The images it records stay held until the block ends: a pull's image is not
            # yet tagged when it is recorded, nor a build's steps until the build is done.
            with self._lease.shared(), self.holding():
                yield Adding(self, max_layer_size)
        except BaseException:
            if outermost:
                self._lease.release()  # a hold taken outside any block must not keep it
                self.gc(wait=0)  # leaves alone what other processes are adding
            raise
        finally:
            self._adding -= 1

    def release(self) -> None:
        """Drop the lease that writes outside an ``adding()`` block take (and keep until the
        store is closed)."""
        self._lease.release()

    def close(self) -> None:
        self.db.close()
        self._lease.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
