"""``pull``: only what the store lacks comes from the registry, streamed straight into place.

Each missing layer is downloaded once and, in the same pass, hashed, written to a resumable
partial blob (``lamina.store.partial``) and fed to the decompressor and the safe extractor of
its snapshot; ``max_concurrent_downloads`` layers (3) go at once. A layer gives up its turn
once its bytes are verified, so the next download starts while the finished layer is flushed
to disk and moved into place (the flush mostly waits on the disk). The snapshot is made
visible only after its diff_id *and* the blob's digest and size are verified; the blob is
renamed into place after that, and the image is recorded last. A pull that fails leaves the
store as it was (``cleanup_on_failure``), except that a download cut by the network keeps its
partial blob, so the next pull resumes it with a Range request instead of starting again.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamina.engine.ingest import MAX_LAYER_SIZE, cleanup_on_failure
from lamina.errors import (
    Denied,
    IntegrityError,
    InvalidArgument,
    LaminaError,
    NotFound,
    RegistryError,
    TransportError,
    Unauthorized,
)
from lamina.image.streams import ChunkReader
from lamina.model import mediatype as mt
from lamina.model.chain import chain_ids
from lamina.model.digest import Digest
from lamina.model.platform import Platform
from lamina.model.reference import Reference
from lamina.store import LayerRecord, Store

if TYPE_CHECKING:
    from lamina.engine.trust import PullTrust
    from lamina.remote.options import RemoteOptions
    from lamina.remote.pull import RemoteImage, RemoteLayer
    from lamina.remote.registry import Repository
    from lamina.remote.transport import Transport
    from lamina.store.partial import PartialBlob


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


def remote_options() -> RemoteOptions:
    """The client's options from lamina's config: ``$LAMINA_CONFIG``, else
    ``/etc/lamina/config.toml`` as root, else ``~/.config/lamina/config.toml``."""
    from lamina.engine.settings import config_file
    from lamina.remote.options import RemoteOptions

    return RemoteOptions.from_toml(config_file())


def _quiet(event: PullEvent) -> None:
    """The progress sink of a caller that wants none."""


def pull(store: Store, name: str, options: RemoteOptions, *, platform: str | None = None,
         all_tags: bool = False, progress: Progress | None = None,
         trust: PullTrust | None = None) -> list[PullResult]:
    """Pull ``name`` (``-a``: every tag of its repository); return what each pull did.
    ``trust`` checks each image against the signature policy before anything is stored."""
    ref = Reference.parse(name)
    wanted = Platform.parse(platform) if platform else None
    report = progress or _quiet
    if all_tags and not ref.is_name_only:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    try:
        with Session(ref, options) as session:
            if not all_tags:
                target = ref.with_default_tag()
                report(PullEvent(_remote_reference(target), f"Pulling from {ref.path}"))
                repository, image = session.open(wanted)
                return [_pull_one(store, repository, target, wanted, report, image, trust)]
            repository, _ = session.open(wanted)
            results = []
            for tag in repository.tags():
                target = ref.with_tag(tag)
                report(PullEvent(tag, f"Pulling from {ref.path}"))
                results.append(_pull_one(store, repository, target, wanted, report, None,
                                         trust))
            return results
    except (Unauthorized, Denied) as err:
        raise Denied(f"pull access denied for {ref.familiar_name}, repository does not exist "
                     f"or may require 'lamina login': {err}", status=err.status,
                     code=err.code) from err


class Session:
    """The repository of ``ref`` on the first endpoint that answers (docker.io mirrors first)."""

    def __init__(self, ref: Reference, options: RemoteOptions, *, push: bool = False) -> None:
        self.ref = ref
        self.options = options
        self.push = push
        self._transports: list[Transport] = []

    def repository(self, base_url: str) -> Repository:
        from lamina.remote import credentials
        from lamina.remote.auth import Authenticator
        from lamina.remote.registry import Repository
        from lamina.remote.transport import Transport, host_of

        transport = Transport(base_url, self.options)
        host = host_of(base_url)
        # Credentials are kept under the name the user logged in to (docker.io, not its
        # endpoint); a mirror's under its own host.
        login_name = self.ref.domain if host == host_of(self._endpoints()[-1]) else host
        lookup = self.options.credentials or credentials.lookup
        transport.authorizer = Authenticator(
            host, lambda _host: lookup(login_name), transport.insecure, client=transport.client()
        )
        self._transports.append(transport)
        return Repository(transport, self.ref.path)

    def _endpoints(self) -> list[str]:
        from lamina.remote.transport import endpoints

        urls = endpoints(self.ref.domain, self.options)
        return urls[-1:] if self.push else urls

    def open(self, platform: Platform | None = None) -> tuple[Repository, RemoteImage | None]:
        """The repository to pull from; with a tag or digest, its image is resolved here, so
        that a mirror that lacks it gives way to the next endpoint."""
        from lamina.remote.pull import resolve

        urls = self._endpoints()
        for i, url in enumerate(urls):
            repository = self.repository(url)
            if self.push or self.ref.is_name_only:
                return repository, None
            target = self.ref.with_default_tag()
            try:
                image = resolve(repository, _remote_reference(target), platform,
                                reference_label=target.familiar)
                return repository, image
            except (TransportError, NotFound, RegistryError):
                if i + 1 == len(urls):
                    raise
        raise AssertionError("endpoints() is never empty")

    def close(self) -> None:
        for transport in self._transports:
            transport.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remote_reference(ref: Reference) -> str:
    return str(ref.digest) if ref.digest is not None else str(ref.tag)


def _pull_one(store: Store, repository: Repository, ref: Reference, platform: Platform | None,
              report: Progress, image: RemoteImage | None,
              trust: PullTrust | None = None) -> PullResult:
    from lamina.remote.pull import resolve

    if image is None:
        image = resolve(repository, _remote_reference(ref), platform,
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
    with cleanup_on_failure(store):
        records = _fetch_layers(store, repository, layers, chain_ids(config.diff_ids), report)
        store.blobs.put(image.raw_config(), manifest.config.digest)
        store.blobs.put(manifest.raw, manifest.digest)
        if top is not image.fetched:
            store.blobs.put(top.raw, top.digest)
        try:
            record = store.put_image(config, manifest, records)
            if top is not image.fetched:
                store.add_manifest(top.digest, top.media_type, len(top.raw), record.id)
            if ref.tag is not None and ref.digest is None:  # name:tag@digest: by digest only
                store.tag(record.id, ref)
            store.add_repo_digest(record.id, ref.repository, top.digest)
        finally:
            store.release()
        if trust is not None:
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


def _fetch_layers(store: Store, repository: Repository, layers: Sequence[RemoteLayer],
                  chains: list[Digest], report: Progress) -> list[LayerRecord]:
    records: dict[int, LayerRecord] = {}
    todo: list[int] = []
    for i, (layer, chain_id) in enumerate(zip(layers, chains, strict=True)):
        if store.snapshots.has(chain_id) and (store.blobs.has(layer.digest)
                                              or mt.is_foreign(layer.media_type)):
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
            pool.submit(_fetch_layer, store, layers[i], chains[i], report, batch): i
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


def _fetch_layer(store: Store, layer: RemoteLayer, chain_id: Digest, report: Progress,
                 batch: _Batch) -> LayerRecord:
    short = layer.digest.short
    host = layer.repository.transport.host
    turn = _Turn(batch)
    try:
        if store.blobs.has(layer.digest):  # unpacked elsewhere, or removed: the local copy
            turn.take()
            with store.blobs.open(layer.digest) as stream:
                unpacked = store.snapshots.unpack(chain_id, stream, layer.media_type,
                                                  layer.diff_id, MAX_LAYER_SIZE)
            report(PullEvent(short, "Pull complete"))
            return LayerRecord(layer.diff_id, chain_id, layer.digest, layer.media_type,
                               layer.size, unpacked)
        for attempt in range(2):
            turn.take()
            partial = store.blobs.partial(layer.digest, layer.size,
                                          what=f"{host}: layer {short}")
            resumed = partial.offset > 0
            try:
                unpacked = _stream_layer(store, layer, chain_id, partial, report, batch, turn)
                break
            except IntegrityError:
                # Bytes kept from an earlier attempt can be what is wrong (they came from a
                # registry that lied, or a disk that failed): once, start again from nothing.
                if not resumed or attempt:
                    raise
    finally:
        turn.release()
    report(PullEvent(short, "Pull complete"))
    return LayerRecord(layer.diff_id, chain_id, layer.digest, layer.media_type, layer.size,
                       unpacked)


def _stream_layer(store: Store, layer: RemoteLayer, chain_id: Digest, partial: PartialBlob,
                  report: Progress, batch: _Batch, turn: _Turn) -> int:
    """Download into ``partial`` while unpacking; commit both; return the unpacked size."""
    host = layer.repository.transport.host
    source = LayerSource(partial, layer, batch, report, turn.release)
    try:
        if store.snapshots.has(chain_id):
            source.finish()
            unpacked = store.snapshots.size(chain_id)
        else:
            # The request goes out first: the registry sends while the unpacker loads.
            source.prime()
            unpacked = store.snapshots.unpack(chain_id, source, layer.media_type,  # type: ignore[arg-type]
                                              layer.diff_id, MAX_LAYER_SIZE, check=source.finish)
            # Another process may have made the snapshot since ``has``: then ``unpack`` read
            # nothing and checked nothing, and the blob still has to come in whole.
            source.finish()
        partial.commit()
    except BaseException as err:
        resumable = isinstance(err, TransportError | KeyboardInterrupt) or (
            isinstance(err, _Cancelled) and batch.keep_partials)
        if resumable:
            partial.keep()
        else:
            partial.discard()
        if isinstance(err, LaminaError) and not err.message.startswith(host):
            # The store's words name the diff_id; the user knows the layer by its blob digest.
            text = err.message
            if text.startswith(f"layer {layer.diff_id}: "):
                text = "uncompressed, it does not match the config's diff_id: " + \
                    text.removeprefix(f"layer {layer.diff_id}: ")
            raise type(err)(f"{host}: layer {layer.digest.short}: {text}") from err
        raise
    return unpacked


class LayerSource(ChunkReader):
    """A layer blob as one stream: the partial bytes kept from before, then the network's.

    Every byte from the network is written to the partial blob (which hashes it) before the
    reader sees it; ``finish`` reads whatever the reader left and verifies the blob.
    """

    REPORT_EVERY = 0.1  # seconds between progress events

    def __init__(self, partial: PartialBlob, layer: RemoteLayer, batch: _Batch,
                 report: Progress, verified: Callable[[], None] = lambda: None) -> None:
        self._partial = partial
        self._verified = verified
        self._layer = layer
        self._batch = batch
        self._report = report
        self._last_report = 0.0
        self._finished = False
        super().__init__(itertools.chain(partial.existing(), self._network()))
        self.resumed_at = partial.offset

    def _network(self) -> Iterator[bytes]:
        partial, layer = self._partial, self._layer
        short = layer.digest.short
        for chunk in layer.chunks(partial.offset):
            if self._batch.cancelled.is_set():
                raise _Cancelled()
            partial.write(chunk)
            now = time.monotonic()
            if now - self._last_report >= self.REPORT_EVERY:
                self._last_report = now
                self._report(PullEvent(short, "Downloading", partial.received, layer.size))
            yield chunk

    def finish(self) -> None:
        """Read the rest, then check size and digest (before the snapshot becomes visible);
        once done, again does nothing."""
        if self._finished:
            return
        self.drain()
        short = self._layer.digest.short
        self._report(PullEvent(short, "Verifying Checksum"))
        self._partial.verify()
        self._finished = True
        self._verified()
        self._report(PullEvent(short, "Download complete"))
