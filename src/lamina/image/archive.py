"""Image archives, whatever wrote them: the entry point of ``load`` and ``save``.

``read_archive`` takes a file or a stream (a pipe is fine), compressed or not, and tells the
formats apart by their files: ``manifest.json`` is a ``docker save`` archive of any generation
(docker 25+'s also holds an OCI layout, whose manifests are then used), ``index.json`` alone is
an OCI layout (skopeo's ``oci-archive:``). The result holds verified images and must be closed
(it owns the temporary copies of the archive's files)::

    with read_archive(sys.stdin.buffer, tmp_dir=store_tmp) as archive:
        for loaded in archive.images:
            commit(loaded.image, loaded.tags)

``write_docker_archive`` writes what ``docker save`` 25+ writes.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Literal

from lamina.errors import InvalidArgument, Unsupported
from lamina.image.base import LoadedImage
from lamina.image.docker_archive import MANIFEST_JSON, read_docker_archive, write_docker_archive
from lamina.image.oci_layout import read_oci_layout
from lamina.image.spool import Spool, spool_archive
from lamina.model.platform import Platform

__all__ = ["Archive", "read_archive", "write_docker_archive"]

ArchiveKind = Literal["docker", "docker+oci", "oci"]


class Archive:
    """The images of one archive. Their blobs stay readable until ``close()``."""

    def __init__(self, spool: Spool, images: list[LoadedImage], kind: ArchiveKind) -> None:
        self._spool = spool
        self.images = images
        self.kind: ArchiveKind = kind

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_archive(
    source: BinaryIO | str | os.PathLike[str],
    *,
    platform: Platform | None = None,
    tmp_dir: str | os.PathLike[str] | None = None,
    max_size: int | None = None,
) -> Archive:
    """Read a ``docker save`` or OCI layout archive from a path or a stream.

    ``platform`` picks the image of a multi-platform index (default: the host's). ``tmp_dir``
    is where a streamed or compressed archive is copied (the store's tmp/, ideally); an
    uncompressed archive file is read in place. ``max_size`` bounds the archive's file data.
    Raises InvalidArgument (a malformed or hostile archive), IntegrityError (content that does
    not match its digest), Unsupported, or StorageError (the temporary copy failed)."""
    spool = spool_archive(source, tmp_dir=tmp_dir, max_size=max_size)
    try:
        kind: ArchiveKind
        if spool.has(MANIFEST_JSON):
            images = read_docker_archive(spool)
            kind = "docker+oci" if spool.has("index.json") else "docker"
        elif spool.has("index.json"):
            images = read_oci_layout(spool, platform)
            kind = "oci"
        elif spool.has("repositories"):
            raise Unsupported(
                "archive is in the format of docker before 1.10 (no manifest.json), "
                "which lamina does not read"
            )
        else:
            raise InvalidArgument(
                "archive is neither a docker save archive nor an OCI layout: "
                "it has no manifest.json or index.json"
            )
    except BaseException:
        spool.close()
        raise
    return Archive(spool, images, kind)
