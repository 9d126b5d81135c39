"""``push``: an image of the store to its repository, blobs streamed from the store.

A layer that other images of the store carry under another repository of the same registry is
mounted from there when the registry allows it; the manifest goes up exactly as stored, and the
digest the registry answers becomes a repo digest of the image (as docker records it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamina.engine.pull import PullEvent
from lamina.errors import InvalidArgument, InvalidReference, NotFound
from lamina.model.digest import Digest
from lamina.model.reference import Reference, check_remote
from lamina.remote.session import Session
from lamina.store import ImageHold, ImageRecord, Store

if TYPE_CHECKING:
    from lamina.engine.trust import PushSigning
    from lamina.remote.options import RemoteOptions
    from lamina.remote.registry import Repository

Progress = Callable[[PullEvent], None]


@dataclass(frozen=True)
class PushResult:
    reference: Reference
    digest: Digest
    size: int


def push(store: Store, name: str, options: RemoteOptions, *, all_tags: bool = False,
         progress: Progress | None = None, signing: PushSigning | None = None
         ) -> list[PushResult]:
    """Push the image ``name`` names (``-a``: every local tag of its repository).
    ``signing``: signatures to make, and whether to carry the ones kept from its pull."""
    report = progress or (lambda _e: None)
    ref = check_remote(Reference.parse(name))
    if ref.digest is not None:
        raise InvalidReference("cannot push a digest reference")
    if all_tags:
        if ref.tag is not None:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        targets = sorted({t for r in store.images(with_layers=False) for t in r.tags
                          if t.repository == ref.repository}, key=str)
        if not targets:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    else:
        targets = [ref.with_default_tag()]
    # The images are held until sent: another process's rmi or prune cannot take their blobs
    # half-way (lamina.store.holds).
    with store.holding() as hold:
        records = [_local(hold, target) for target in targets]
        report(PullEvent("", f"The push refers to repository [{ref.repository}]"))
        results = []
        with Session(ref, options, push=True) as session:
            repository, _ = session.open()
            for target, record in zip(targets, records, strict=True):
                results.append(_push_one(store, repository, target, record, report, signing))
    return results


def _local(hold: ImageHold, ref: Reference) -> ImageRecord:
    try:
        return hold.resolve(str(ref))
    except NotFound:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}") \
            from None


def _push_one(store: Store, repository: Repository, ref: Reference, record: ImageRecord,
              report: Progress, signing: PushSigning | None = None) -> PushResult:
    from lamina.remote.push import push_image
    from lamina.store.view import StoreImage

    image = StoreImage(store.blobs, record)
    sources = _mount_sources(store, ref)

    def say(id_: str, status: str, current: int, total: int) -> None:
        report(PullEvent(id_, status, current, total))

    pushed = push_image(repository, image, str(ref.tag), report=say,
                        mount_sources=lambda digest: sources.get(digest, []),
                        workers=repository.transport.options.max_concurrent_uploads)
    store.add_repo_digest(record.id, ref.repository, pushed.digest)
    if signing is not None:
        signing.after_push(store, repository, ref, record.id, image.manifest(), pushed.digest)
    return PushResult(ref, pushed.digest, pushed.size)


def _mount_sources(store: Store, ref: Reference) -> dict[Digest, list[str]]:
    """Layer digest -> other repositories of ``ref``'s registry whose images carry it."""
    sources: dict[Digest, list[str]] = {}
    for record in store.images():
        # Repo digests say where the image was pulled from or pushed to: the registry has it.
        repos = {Reference.parse(d).repository for d in record.repo_digests}
        paths = sorted(r.split("/", 1)[1] for r in repos
                       if r.split("/", 1)[0] == ref.domain and r != ref.repository)
        if not paths:
            continue
        for layer in record.layers:
            known = sources.setdefault(layer.digest, [])
            known.extend(p for p in paths if p not in known)
    return sources
