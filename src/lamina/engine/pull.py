"""``pull``: a registry's image (the source) into one ``store.adding()`` transaction (the sink).

The source is ``lamina.remote``: a ``Session`` finds the repository on the first endpoint that
answers and resolves the reference to a ``RemoteImage``. The sink takes what the store lacks:
each missing layer goes to ``Adding.stream_layer`` as a resumable stream, downloaded once and,
in the same pass, hashed, written to a partial blob and unpacked; ``max_concurrent_downloads``
layers (3) go at once. A layer gives up its turn once its bytes are verified, so the next
download starts while the finished one is flushed to disk. Then the config and manifest, and
the image is recorded last. A pull that fails leaves the store as it was, except that a
download cut by the network keeps its partial blob, so the next pull resumes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamina.errors import (
    Denied,
    InvalidArgument,
    LaminaError,
    NotFound,
    TransportError,
    Unauthorized,
)
from lamina.model import mediatype as mt
from lamina.model.chain import chain_ids
from lamina.model.digest import Digest
from lamina.model.platform import Platform
from lamina.model.reference import Reference, check_remote
from lamina.store import Adding, LayerRecord, Store

if TYPE_CHECKING:
    from lamina.engine.trust import PullTrust
    from lamina.remote.options import RemoteOptions
    from lamina.remote.pull import RemoteImage, RemoteLayer
    from lamina.remote.registry import Repository


@dataclass(frozen=True)
class PullEvent:
    """One line of docker's pull output: ``id: status``, with progress for Downloading."""

    id: str
    status: str
    current: int = 0
    total: int = 0


Progress = Callable[[PullEvent], None]


@dataclass(frozen=True)
class PullResult:
    reference: Reference  # what was pulled: repository with tag, or with digest
    digest: Digest  # the repo digest (of what the tag names: an index or a manifest)
    image_id: Digest
    updated: bool  # False: "Image is up to date"


def _quiet(event: PullEvent) -> None:
    """The progress sink of a caller that wants none."""


def pull(store: Store, name: str, options: RemoteOptions, *, platform: str | None = None,
         all_tags: bool = False, progress: Progress | None = None,
         trust: PullTrust | None = None) -> list[PullResult]:
    """Pull ``name`` (``-a``: every tag of its repository); return what each pull did.
    ``trust`` checks each image against the signature policy before anything is stored."""
    ref = check_remote(Reference.parse(name))
    wanted = Platform.parse(platform) if platform else None
    report = progress or _quiet
    if all_tags and not ref.is_name_only:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    from lamina.remote.session import Session, remote_reference

    try:
        # (With the tag, the session resolves the image as it opens: a registry that does not
        # answer fails there, before any line is printed.)
        with Session(ref if all_tags else ref.with_default_tag(), options) as session:
            if not all_tags:
                target = ref.with_default_tag()
                repository, image = session.open(wanted)
                # Only once the registry answered, as docker: a pull that fails at once
                # prints no "Pulling from" first.
                report(PullEvent(remote_reference(target), f"Pulling from {ref.path}"))
                return [_pull_one(store, repository, target, wanted, report, image, trust)]
            repository, _ = session.open(wanted)
            results = []
            from lamina.trust.registry_gc import subject_of_tag

            for tag in repository.tags():
                if subject_of_tag(tag) is not None:
                    continue  # a signature's tag (sha256-<hex>.sig, a referrers index): no image
                target = ref.with_tag(tag)
                report(PullEvent(tag, f"Pulling from {ref.path}"))
                results.append(_pull_one(store, repository, target, wanted, report, None,
                                         trust))
            return results
    except (Unauthorized, Denied) as err:
        raise Denied(f"pull access denied for {ref.familiar_name}, repository does not exist "
                     f"or may require 'lamina login': {err}", status=err.status,
                     code=err.code, hint=err.hint) from err


def _pull_one(store: Store, repository: Repository, ref: Reference, platform: Platform | None,
              report: Progress, image: RemoteImage | None,
              trust: PullTrust | None = None) -> PullResult:
    from lamina.remote.pull import resolve
    from lamina.remote.session import remote_reference

    if image is None:
        image = resolve(repository, remote_reference(ref), platform,
                        reference_label=ref.familiar)
    verdict = trust.check(repository, ref, image) if trust is not None else None
    config = image.config()
    layers = image.layers()
    try:
        previous = store.resolve(str(ref)).id
    except NotFound:
        previous = None
    manifest = image.manifest()
    top = image.top
    with store.adding() as tx:
        records = _fetch_layers(tx, repository, layers, chain_ids(config.diff_ids), report)
        if top is not image.fetched:
            tx.put_blob(top.raw, top.digest)
        record = tx.record(config, manifest, records, raw_config=image.raw_config())
        if top is not image.fetched:
            store.add_manifest(top.digest, top.media_type, len(top.raw), record.id)
        if ref.tag is not None and ref.digest is None:  # name:tag@digest: by digest only
            store.tag(record.id, ref)
        store.add_repo_digest(record.id, ref.repository, top.digest)
    if trust is not None:  # once the image is in the store: its verdict beside it
        trust.keep(store, record.id, ref, top.digest, verdict)
    report(PullEvent("", f"Digest: {top.digest}"))
    return PullResult(ref, top.digest, record.id, previous != record.id)


# --------------------------------------------------------------------------- layers


class _Cancelled(Exception):
    """Another layer failed: this one stops, keeping its partial download if resumable."""


class _Batch:
    """What the layer workers of one pull share: the cancel flag, whether to keep partial
    downloads when cancelled (yes if the failure was the network's), and the download turns."""

    def __init__(self, downloads: int) -> None:
        self.cancelled = threading.Event()
        self.keep_partials = True
        self.turns = threading.BoundedSemaphore(downloads)


class _Turn:
    """A layer's turn to download and unpack: taken before each attempt, given up when its
    bytes are verified (before they are flushed to disk) or when the attempt ends."""

    def __init__(self, batch: _Batch) -> None:
        self._batch = batch
        self._held = False

    def take(self) -> None:
        if not self._held:
            self._batch.turns.acquire()
            self._held = True
        if self._batch.cancelled.is_set():
            raise _Cancelled()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._batch.turns.release()


def _fetch_layers(tx: Adding, repository: Repository, layers: Sequence[RemoteLayer],
                  chains: list[Digest], report: Progress) -> list[LayerRecord]:
    store = tx.store
    records: dict[int, LayerRecord] = {}
    todo: list[int] = []
    for i, (layer, chain_id) in enumerate(zip(layers, chains, strict=True)):
        if tx.has_layer(chain_id, layer.digest, mt.is_foreign(layer.media_type)):
            report(PullEvent(layer.digest.short, "Already exists"))
            records[i] = LayerRecord(layer.diff_id, chain_id, layer.digest, layer.media_type,
                                     layer.size, store.snapshots.size(chain_id))
        else:
            report(PullEvent(layer.digest.short, "Pulling fs layer"))
            todo.append(i)
    workers = max(1, repository.transport.options.max_concurrent_downloads)
    for i in todo[workers:]:
        report(PullEvent(layers[i].digest.short, "Waiting"))
    batch = _Batch(workers)
    # Up to ``workers`` layers downloading (see ``_Turn``) and as many being flushed to disk.
    threads = max(1, min(len(todo), 2 * workers))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pull") as pool:
        futures: dict[Future[LayerRecord], int] = {
            pool.submit(_fetch_layer, tx, layers[i], chains[i], report, batch): i
            for i in todo
        }
        try:
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            batch.cancelled.set()  # Ctrl-C: stop the workers, keep what they downloaded
            raise
        failed = [f for f in done if f.exception() is not None]
        if failed:
            error = failed[0].exception()
            batch.keep_partials = isinstance(error, TransportError)
            batch.cancelled.set()
            wait(pending)
            assert error is not None
            raise error
        for future, i in futures.items():
            records[i] = future.result()
    return [records[i] for i in range(len(layers))]


def _fetch_layer(tx: Adding, layer: RemoteLayer, chain_id: Digest, report: Progress,
                 batch: _Batch) -> LayerRecord:
    short = layer.digest.short
    host = layer.repository.transport.host
    record = LayerRecord(layer.diff_id, chain_id, layer.digest, layer.media_type, layer.size, 0)
    turn = _Turn(batch)
    try:
        if tx.store.blobs.has(layer.digest):  # unpacked elsewhere, or removed: the local copy
            turn.take()
            record = tx.unpack_blob(record)
        else:
            feed = _RegistryFeed(layer, batch, report, turn)
            try:
                unpacked = tx.stream_layer(record, feed, what=f"{host}: layer {short}")
            except LaminaError as err:
                raise _located(err, layer) from err
            record = record._replace(unpacked_size=unpacked)
    finally:
        turn.release()
    report(PullEvent(short, "Pull complete"))
    return record


def _located(err: LaminaError, layer: RemoteLayer) -> LaminaError:
    """The error naming the registry and the layer as the user knows it (its blob digest)."""
    host = layer.repository.transport.host
    if err.message.startswith(host):
        return err
    text = err.message
    if text.startswith(f"layer {layer.diff_id}: "):  # the store's words name the diff_id
        text = "uncompressed, it does not match the config's diff_id: " + \
            text.removeprefix(f"layer {layer.diff_id}: ")
    return err.reworded(f"{host}: layer {layer.digest.short}: {text}")


class _RegistryFeed:
    """A layer blob of the registry, fed to the store (``lamina.store.adding.LayerFeed``),
    with docker's progress lines; it stops when another layer of the pull failed."""

    REPORT_EVERY = 0.1  # seconds between progress events

    def __init__(self, layer: RemoteLayer, batch: _Batch, report: Progress, turn: _Turn) -> None:
        self._layer = layer
        self._batch = batch
        self._report = report
        self._turn = turn
        self._last_report = 0.0

    def begin(self) -> None:
        self._turn.take()

    def chunks(self, offset: int) -> Iterator[bytes]:
        for chunk in self._layer.chunks(offset):
            if self._batch.cancelled.is_set():
                raise _Cancelled()
            yield chunk

    def received(self, count: int) -> None:
        now = time.monotonic()
        if now - self._last_report >= self.REPORT_EVERY:
            self._last_report = now
            self._report(PullEvent(self._layer.digest.short, "Downloading", count,
                                   self._layer.size))

    def verifying(self) -> None:
        self._report(PullEvent(self._layer.digest.short, "Verifying Checksum"))

    def verified(self) -> None:
        # Give up the download turn: the next layer downloads while this one is flushed.
        self._turn.release()
        self._report(PullEvent(self._layer.digest.short, "Download complete"))

    def resumable(self, error: BaseException) -> bool:
        return isinstance(error, TransportError | KeyboardInterrupt) or (
            isinstance(error, _Cancelled) and self._batch.keep_partials)
