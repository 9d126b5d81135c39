"""Pushing an image (any ``lamina.image.base.Image``) to a repository.

Blobs the repository has are skipped; a blob known to be in another repository of the same
registry is mounted from there (no bytes move); the rest are uploaded, streamed from their
source, several at once. The config goes last of the blobs and the manifest after it, byte for
byte as the image holds it, so the digest the registry gives is the one the image has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lamina.errors import IntegrityError
from lamina.image.base import Image, Layer
from lamina.model import mediatype as mt
from lamina.model.digest import Digest
from lamina.remote.registry import Repository

CHUNK = 1 << 20

# (id, status, current, total): "Preparing", "Waiting", "Pushing", "Pushed",
# "Layer already exists", "Mounted from <repo>", "Skipped foreign layer".
Report = Callable[[str, str, int, int], None]
MountSources = Callable[[Digest], Sequence[str]]


@dataclass(frozen=True)
class Pushed:
    digest: Digest  # of the manifest, as pushed
    size: int  # of the manifest


def push_image(repository: Repository, image: Image, reference: str, *,
               mount_sources: MountSources | None = None, report: Report | None = None,
               workers: int = 5) -> Pushed:
    """Push ``image`` and tag it ``reference`` (a tag, or its digest)."""
    say: Report = report or (lambda *_: None)
    manifest = image.manifest()
    raw_manifest = image.raw_manifest()
    if Digest.of(raw_manifest) != manifest.digest:
        raise IntegrityError("the manifest to push does not match its own digest")
    layers = list(image.layers())
    unique: dict[Digest, Layer] = {}
    for layer in reversed(layers):  # docker lists the top layer first
        if layer.digest not in unique:
            unique[layer.digest] = layer
            say(layer.digest.short, "Preparing", 0, 0)
    for layer in list(unique.values())[workers:]:
        say(layer.digest.short, "Waiting", 0, 0)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="push") as pool:
        jobs = [pool.submit(_push_layer, repository, layer, mount_sources, say)
                for layer in unique.values()]
        for job in jobs:
            job.result()
    config = manifest.config
    if repository.blob_size(config.digest, repository.push_scopes) is None:
        raw_config = image.raw_config()
        repository.upload(config.digest, config.size, lambda: iter([raw_config]))
    digest = repository.put_manifest(reference, raw_manifest, manifest.media_type)
    return Pushed(digest, len(raw_manifest))


def _push_layer(repository: Repository, layer: Layer, mount_sources: MountSources | None,
                say: Report) -> None:
    short = layer.digest.short
    if mt.is_foreign(layer.media_type):
        say(short, "Skipped foreign layer", 0, 0)
        return
    if repository.blob_size(layer.digest, repository.push_scopes) is not None:
        say(short, "Layer already exists", 0, 0)
        return
    for source in (mount_sources(layer.digest) if mount_sources else ()):
        if source != repository.path and repository.mount(layer.digest, source):
            say(short, f"Mounted from {source}", 0, 0)
            return
    repository.upload(layer.digest, layer.size, lambda: _read(layer, say))
    say(short, "Pushed", 0, 0)


def _read(layer: Layer, say: Report) -> Iterator[bytes]:
    sent = 0
    with layer.open_compressed() as stream:
        while chunk := stream.read(CHUNK):
            sent += len(chunk)
            say(layer.digest.short, "Pushing", sent, layer.size)
            yield chunk
    if sent != layer.size:
        raise IntegrityError(f"layer {layer.digest.short}: {sent} bytes read, "
                             f"{layer.size} expected")
