"""Images, layers, tags and repo digests in the metadata database.

Every write is one ``BEGIN IMMEDIATE`` transaction (see ``db``), so tag updates from several
processes serialise and none is lost. Listing reads the whole catalogue in four queries, never
one per image: ``lamina images`` on a thousand images must stay fast.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lamina.errors import Conflict, InvalidArgument, InvalidManifest, InvalidReference, NotFound
from lamina.model.digest import Digest
from lamina.model.reference import DEFAULT_TAG, Reference
from lamina.store.db import Database
from lamina.store.holds import hold_recorded
from lamina.store.records import ImageRecord, LayerRecord, digest_reference, tag_reference

if TYPE_CHECKING:  # only adding an image needs them (reading the catalogue does not)
    from lamina.model.config import ImageConfig
    from lamina.model.manifest import Manifest
    from lamina.store.holds import ImageHold

_SHORT_ID = re.compile(r"(?:sha256:)?([a-f0-9]{1,64})")
_IMAGE_COLUMNS = (
    "id, created, size, manifest_digest, parent, added, manifest_media_type, os, architecture,"
    " variant, labels"
)
_LAYER_QUERY = (
    "SELECT il.image_id, l.diff_id, il.chain_id, il.digest, il.media_type, il.size,"
    " l.unpacked_size FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id"
)


class Catalog:
    """The image catalogue of a store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ writing

    def put_image(
        self,
        config: ImageConfig,
        manifest: Manifest,
        layers: Sequence[LayerRecord],
        *,
        parent: Digest | None = None,
        hold: ImageHold | None = None,
    ) -> ImageRecord:
        """Record an image (idempotent). Its files must already be in the store. With
        ``hold``, the image is held in the same transaction (``lamina.store.holds``)."""
        check_image(config, manifest, layers)
        image_id = config.id
        labels = json.dumps(config.labels, sort_keys=True) if config.labels else "{}"
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent_chain_id, unpacked_size,"
                " digest, media_type, size) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        layer.chain_id,
                        layer.diff_id,
                        layers[i - 1].chain_id if i else None,
                        layer.unpacked_size,
                        layer.digest,
                        layer.media_type,
                        layer.size,
                    )
                    for i, layer in enumerate(layers)
                ],
            )
            if parent is not None and not _exists(conn, parent):
                raise NotFound(f"No such image: {parent}")
            cursor = conn.execute(
                "INSERT INTO images (id, manifest_digest, manifest_media_type, created, size,"
                " parent, added, os, architecture, variant, labels)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    image_id,
                    manifest.digest,
                    manifest.media_type,
                    config.created,
                    sum(layer.unpacked_size for layer in layers),
                    parent,
                    now,
                    config.os or None,
                    config.architecture or None,
                    config.variant,
                    labels,
                ),
            )
            if cursor.rowcount == 1:
                conn.executemany(
                    "INSERT INTO image_layers (image_id, position, chain_id, digest, media_type,"
                    " size) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (image_id, i, layer.chain_id, layer.digest, layer.media_type, layer.size)
                        for i, layer in enumerate(layers)
                    ],
                )
            _add_manifest(conn, manifest.digest, manifest.media_type, len(manifest.raw), image_id)
            hold_recorded(conn, hold, image_id)

        self.db.write(write)
        return self.image(image_id)

    def add_manifest(
        self, digest: Digest, media_type: str, size: int, image_id: Digest | None = None
    ) -> None:
        """Keep another manifest (or an index) of an image; its blob must be stored."""
        self.db.write(lambda conn: _add_manifest(conn, digest, media_type, size, image_id))

    def tag(self, image_id: Digest, ref: Reference) -> Reference:
        """Point ``ref`` (default tag ``latest``) at an image; return the tag as stored."""
        if ref.digest is not None:
            raise InvalidReference("refusing to create a tag with a digest reference")
        tag = ref.tag if ref.tag is not None else DEFAULT_TAG

        def write(conn: sqlite3.Connection) -> None:
            if not _exists(conn, image_id):
                raise NotFound(f"No such image: {image_id}")
            conn.execute(
                "INSERT INTO tags (repository, tag, image_id, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (repository, tag) DO UPDATE SET image_id = excluded.image_id,"
                " updated = excluded.updated",
                (ref.repository, tag, image_id, time.time()),
            )

        self.db.write(write)
        return tag_reference(ref.repository, tag)

    def untag(self, ref: Reference) -> bool:
        """Remove a tag (or, for ``name@digest``, a repo digest); tell whether it existed."""
        if ref.digest is not None:
            sql = "DELETE FROM repo_digests WHERE repository = ? AND digest = ?"
            args: tuple[str, ...] = (ref.repository, ref.digest)
        else:
            sql = "DELETE FROM tags WHERE repository = ? AND tag = ?"
            args = (ref.repository, ref.tag if ref.tag is not None else DEFAULT_TAG)
        return bool(self.db.write(lambda conn: conn.execute(sql, args).rowcount))

    def add_repo_digest(
        self, image_id: Digest, repository: str | Reference, digest: Digest
    ) -> None:
        """Record that ``repository@digest`` names this image (as docker's RepoDigests)."""
        repo = _repository(repository)
        digest = Digest.parse(digest)

        def write(conn: sqlite3.Connection) -> None:
            if not _exists(conn, image_id):
                raise NotFound(f"No such image: {image_id}")
            conn.execute(
                "INSERT INTO repo_digests (repository, digest, image_id) VALUES (?, ?, ?)"
                " ON CONFLICT (repository, digest) DO UPDATE SET image_id = excluded.image_id",
                (repo, digest, image_id),
            )

        self.db.write(write)

    def delete_image(self, image_id: Digest) -> None:
        """Remove an image's metadata (tags, repo digests, layer list) in one transaction.

        Its files stay until ``gc``. Raises NotFound, or Conflict if a container uses it.
        """

        def write(conn: sqlite3.Connection) -> None:
            try:
                deleted = conn.execute("DELETE FROM images WHERE id = ?", (image_id,)).rowcount
            except sqlite3.IntegrityError:
                held = conn.execute("SELECT 1 FROM holds WHERE image_id = ? LIMIT 1",
                                    (image_id,)).fetchone()
                user = "a container being created" if held else "a container"
                raise Conflict(
                    f"conflict: unable to delete {Digest(image_id).short} (must be forced) - "
                    f"image is being used by {user}"
                ) from None
            if not deleted:
                raise NotFound(f"No such image: {image_id}")

        self.db.write(write)

    # ------------------------------------------------------------------ reading

    def images(self, *, with_layers: bool = True) -> list[ImageRecord]:
        """Every image, newest added first, with tags, repo digests and (optionally) layers."""
        return self.db.read(lambda conn: _load(conn, None, with_layers))

    def image(self, image_id: Digest | str) -> ImageRecord:
        records = self.db.read(lambda conn: _load(conn, str(image_id), True))
        if not records:
            raise NotFound(f"No such image: {image_id}")
        return records[0]

    def exists(self, image_id: Digest | str) -> bool:
        return bool(self.db.read(lambda conn: _exists(conn, str(image_id))))

    def tags_of(self, image_id: Digest) -> list[Reference]:
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT repository, tag FROM tags WHERE image_id = ?", (image_id,)
            ).fetchall()
        )
        return sorted((tag_reference(r, t) for r, t in rows), key=str)

    def children(self, image_id: Digest) -> list[Digest]:
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT id FROM images WHERE parent = ? ORDER BY added", (image_id,)
            ).fetchall()
        )
        return [Digest(row[0]) for row in rows]

    def resolve(self, text: str) -> ImageRecord:
        """Find an image as docker does: a reference, a full ID, or a unique ID prefix."""
        # One read: an image another process deletes meanwhile is not found under its name,
        # rather than found, then missing under its ID.
        return self.db.read(lambda conn: _load(conn, _resolve(conn, text), True))[0]


def check_image(config: ImageConfig, manifest: Manifest, layers: Sequence[LayerRecord]) -> None:
    """Raise InvalidManifest unless config, manifest and layer records describe one image."""
    from lamina.model.chain import chain_ids

    if manifest.config.digest != config.id:
        raise InvalidManifest(
            f"manifest {manifest.digest} names config {manifest.config.digest}, not {config.id}"
        )
    if not len(layers) == len(config.diff_ids) == len(manifest.layers):
        raise InvalidManifest(
            f"image {config.id.short}: {len(config.diff_ids)} diff_ids, "
            f"{len(manifest.layers)} manifest layers and {len(layers)} layer records"
        )
    for i, (layer, diff_id, chain_id, desc) in enumerate(
        zip(layers, config.diff_ids, chain_ids(config.diff_ids), manifest.layers, strict=True)
    ):
        if layer.diff_id != diff_id or layer.chain_id != chain_id or layer.digest != desc.digest:
            raise InvalidManifest(
                f"image {config.id.short}: layer {i} record does not match the config and manifest"
            )


def _exists(conn: sqlite3.Connection, image_id: str) -> bool:
    return conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is not None


def _add_manifest(
    conn: sqlite3.Connection, digest: str, media_type: str, size: int, image_id: str | None
) -> None:
    conn.execute(
        "INSERT INTO manifests (digest, media_type, size, image_id) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (digest) DO UPDATE SET image_id = coalesce(excluded.image_id, image_id)",
        (digest, media_type, size, image_id),
    )


def _repository(repository: str | Reference) -> str:
    if isinstance(repository, Reference):
        return repository.repository
    ref = Reference.parse(repository)
    if not ref.is_name_only:
        raise InvalidReference(f"expected a repository name without tag or digest: {repository}")
    return ref.repository


def _load(conn: sqlite3.Connection, image_id: str | None, with_layers: bool) -> list[ImageRecord]:
    where, args = (" WHERE id = ?", (image_id,)) if image_id is not None else ("", ())
    records: dict[str, ImageRecord] = {}
    for row in conn.execute(
        f"SELECT {_IMAGE_COLUMNS} FROM images{where} ORDER BY added DESC, id", args
    ):
        (id_, created, size, manifest, parent, added, mtype, os_, arch, variant, labels) = row
        records[id_] = ImageRecord(
            Digest(id_),
            created,
            size,
            Digest(manifest),
            Digest(parent) if parent is not None else None,
            added,
            [],
            [],
            [],
            manifest_media_type=mtype,
            os=os_,
            architecture=arch,
            variant=variant,
            labels=json.loads(labels) if labels != "{}" else {},
        )
    if not records:
        return []
    where = " WHERE image_id = ?" if image_id is not None else ""
    for owner, repository, tag in conn.execute(
        f"SELECT image_id, repository, tag FROM tags{where}", args
    ):
        records[owner].tags.append(tag_reference(repository, tag))
    for owner, repository, digest in conn.execute(
        f"SELECT image_id, repository, digest FROM repo_digests{where}", args
    ):
        records[owner].repo_digests.append(digest_reference(repository, digest).familiar)
    for record in records.values():
        if len(record.tags) > 1:
            record.tags.sort(key=str)  # docker sorts references by their full string
        if len(record.repo_digests) > 1:
            record.repo_digests.sort()
    if with_layers:
        where = " WHERE il.image_id = ?" if image_id is not None else ""
        # Images share layers: one record per distinct row, shared between images.
        cache: dict[tuple[object, ...], LayerRecord] = {}
        for owner, *rest in conn.execute(
            f"{_LAYER_QUERY}{where} ORDER BY il.image_id, il.position", args
        ):
            key = tuple(rest)
            layer = cache.get(key)
            if layer is None:
                diff_id, chain_id, digest, media_type, size, unpacked = rest
                layer = LayerRecord(
                    Digest(diff_id), Digest(chain_id), Digest(digest), media_type, size, unpacked
                )
                cache[key] = layer
            records[owner].layers.append(layer)
    return list(records.values())


def _resolve(conn: sqlite3.Connection, text: str) -> str:
    """The ID of the image ``text`` names, following docker's GetImage."""
    match = _SHORT_ID.fullmatch(text)
    if match is not None and len(match.group(1)) == 64:
        # A full ID (with or without "sha256:") is only ever an ID.
        image_id = "sha256:" + match.group(1)
        if _exists(conn, image_id):
            return image_id
        raise NotFound(f"No such image: {image_id}")
    try:
        ref: Reference | None = Reference.parse(text)
    except InvalidReference:
        if match is None:
            raise
        ref = None  # "sha256:abc" style prefixes are not references
    if ref is not None:
        if ref.digest is not None:
            row = conn.execute(
                "SELECT image_id FROM repo_digests WHERE repository = ? AND digest = ?",
                (ref.repository, ref.digest),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT image_id FROM tags WHERE repository = ? AND tag = ?",
                (ref.repository, ref.tag if ref.tag is not None else DEFAULT_TAG),
            ).fetchone()
        if row is not None:
            return str(row[0])
    if match is not None:
        prefix = "sha256:" + match.group(1)
        # Hex digits sort below "g": [prefix, prefix + "g") is exactly the IDs with the prefix.
        rows = conn.execute(
            "SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "g")
        ).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        if len(rows) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {match.group(1)}")
    shown = ref.with_default_tag().familiar if ref is not None else text
    raise NotFound(f"No such image: {shown}")
