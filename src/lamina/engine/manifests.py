"""``lamina manifest``: multi-platform indexes put together from images in a registry.

``create`` reads each image's manifest (and its config, for the platform) from its registry
and keeps the list in the store; ``annotate`` corrects an entry's platform; ``push`` copies
every entry's manifest into the list's repository (mounting its blobs from where they are,
on the same registry) and puts the index under the list's tag; ``inspect`` shows a local list,
or any manifest or index in a registry; ``rm`` forgets local lists. As docker's, the index is
a Docker manifest list, and every image must be on the list's registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from lamina.errors import Conflict, InvalidArgument, NotFound
from lamina.model import mediatype
from lamina.model.digest import Digest
from lamina.model.reference import Reference, check_remote
from lamina.store import Store
from lamina.store.manifest_lists import ManifestLists

if TYPE_CHECKING:
    from lamina.remote.options import RemoteOptions
    from lamina.remote.registry import FetchedManifest, Repository

INDEX_TYPE = mediatype.DOCKER_MANIFEST_LIST


def _lists(store: Store) -> ManifestLists:
    return ManifestLists(store.root)


def _named(text: str) -> Reference:
    return check_remote(Reference.parse(text)).with_default_tag()


class _Registries:
    """The repositories one verb talks to; their connections closed when it is done."""

    def __init__(self, options: RemoteOptions) -> None:
        self.options = options
        self.stack = ExitStack()

    def __enter__(self) -> _Registries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def repository(self, ref: Reference, *, push: bool = False) -> Repository:
        from lamina.remote.session import Session

        session = self.stack.enter_context(
            Session(ref._replace(tag=None, digest=None), self.options, push=push))
        repository, _ = session.open()
        return repository


def _fetch(ref: Reference, registries: _Registries) -> FetchedManifest:
    repository = registries.repository(ref)
    return repository.manifest(str(ref.digest) if ref.digest else str(ref.tag),
                               what=f"manifest for {ref.familiar}")


def create(store: Store, name: str, manifests: Sequence[str], options: RemoteOptions, *,
           amend: bool = False) -> str:
    """Make (or with ``amend``, extend) the local list ``name``; its full reference."""
    target = _named(name)
    lists = _lists(store)
    existing = lists.get(str(target))
    if existing is not None and not amend:
        raise Conflict("refusing to amend an existing manifest list with no --amend flag")
    entries: list[dict[str, Any]] = list(existing["manifests"]) if existing else []
    with _Registries(options) as registries:
        entries = _entries(target, manifests, entries, registries)
    lists.put(str(target), {"ref": str(target), "manifests": entries})
    return str(target)


def _entries(target: Reference, manifests: Sequence[str], entries: list[dict[str, Any]],
             registries: _Registries) -> list[dict[str, Any]]:
    for text in manifests:
        ref = _named(text)
        if ref.domain != target.domain:
            raise InvalidArgument(f"cannot use source images from a different registry than "
                                  f"the target image: {ref.domain} != {target.domain}")
        fetched = _fetch(ref, registries)
        if mediatype.is_index(fetched.media_type):
            raise InvalidArgument(f"{ref.familiar} is a manifest list")
        platform = _platform_of(ref, fetched, registries)
        entry = {"ref": str(ref), "descriptor": {
            "mediaType": fetched.media_type, "size": len(fetched.raw),
            "digest": str(fetched.digest), "platform": platform}}
        entries = [e for e in entries if e["descriptor"]["digest"] != str(fetched.digest)]
        entries.append(entry)
    return entries


def _platform_of(ref: Reference, fetched: FetchedManifest, registries: _Registries
                 ) -> dict[str, Any]:
    from lamina.model.manifest import Manifest

    manifest = fetched.parsed
    if not isinstance(manifest, Manifest):
        raise InvalidArgument(f"{ref.familiar} is not an image manifest")
    repository = registries.repository(ref)
    config = json.loads(repository.read_blob(manifest.config.digest, manifest.config.size,
                                             what=f"config of {ref.familiar}"))
    platform = {"architecture": str(config.get("architecture") or ""),
                "os": str(config.get("os") or "")}
    if config.get("variant"):
        platform["variant"] = str(config["variant"])
    return platform


def annotate(store: Store, name: str, manifest: str, *, os: str | None = None,
             arch: str | None = None, variant: str | None = None,
             os_features: Sequence[str] = (), os_version: str | None = None) -> None:
    target = _named(name)
    lists = _lists(store)
    document = lists.get(str(target))
    missing = NotFound(f"manifest for image {manifest} does not exist in {name}")
    if document is None:
        raise missing
    wanted = _named(manifest)
    for entry in document["manifests"]:
        if entry["ref"] == str(wanted) or entry["descriptor"]["digest"] == str(wanted.digest):
            platform = entry["descriptor"]["platform"]
            for key, value in (("os", os), ("architecture", arch), ("variant", variant),
                               ("os.version", os_version)):
                if value:
                    platform[key] = value
            if os_features:
                platform["os.features"] = list(os_features)
            lists.put(str(target), document)
            return
    raise missing


def index_of(document: dict[str, Any]) -> dict[str, Any]:
    """The Docker manifest list a local list stands for."""
    return {"schemaVersion": 2, "mediaType": INDEX_TYPE,
            "manifests": [entry["descriptor"] for entry in document["manifests"]]}


def inspect(store: Store, name: str, options: RemoteOptions) -> tuple[bytes, bool]:
    """The local list's index (True), or the manifest or index the registry has (False)."""
    target = check_remote(Reference.parse(name)).with_default_tag()
    document = _lists(store).get(str(target))
    if document is not None:
        return json.dumps(index_of(document)).encode(), True
    with _Registries(options) as registries:
        return _fetch(target, registries).raw, False


def push(store: Store, name: str, options: RemoteOptions, *, purge: bool = False) -> Digest:
    """Copy each entry into the list's repository, then put the index; its digest."""
    target = _named(name)
    lists = _lists(store)
    document = lists.get(str(target))
    if document is None:
        raise NotFound(f"No such manifest: {target}")
    if not document["manifests"]:
        raise InvalidArgument(f"manifest list {target.familiar} has no manifests")
    with _Registries(options) as registries:
        destination = registries.repository(target, push=True)
        for entry in document["manifests"]:
            source_ref = Reference.parse(entry["ref"])
            digest = Digest.parse(entry["descriptor"]["digest"])
            if source_ref.path != target.path \
                    and destination.manifest_digest(str(digest)) is None:
                _copy_manifest(registries.repository(source_ref), digest, destination)
        raw = json.dumps(index_of(document), indent=3).encode()
        pushed = destination.put_manifest(str(target.tag), raw, INDEX_TYPE)
    if purge:
        lists.delete(str(target))
    return pushed


def _copy_manifest(source: Repository, digest: Digest, destination: Repository) -> None:
    """Put a manifest of another repository of the same registry into ``destination``: its
    blobs mounted (or, refused, copied), then the manifest itself by digest."""
    from lamina.model.manifest import Manifest

    fetched = source.manifest(str(digest), what=f"manifest {digest}")
    manifest = fetched.parsed
    if not isinstance(manifest, Manifest):
        raise InvalidArgument(f"{source.name}@{digest} is not an image manifest")
    for blob in [manifest.config, *manifest.layers]:
        if destination.blob_size(blob.digest) is not None:
            continue
        if destination.mount(blob.digest, source.path):
            continue
        data = source.read_blob(blob.digest, blob.size, what=f"blob {blob.digest}")
        destination.upload(blob.digest, blob.size, _chunks(data))
    destination.put_manifest(str(digest), fetched.raw, fetched.media_type)


def _chunks(data: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([data])


def remove(store: Store, names: Sequence[str]) -> list[str]:
    """Forget local lists; the names not found, as docker reports them (after the rest)."""
    lists = _lists(store)
    missing = []
    for name in names:
        target = str(_named(name))
        if not lists.delete(target):
            missing.append(target)
    return missing
