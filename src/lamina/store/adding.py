"""Adding images to the store: one transaction for pull, load, import, commit and build.

Every way in does the same things in the same order: put blobs, unpack snapshots, record the
image (files first, metadata last), and, if anything fails half-way, remove what it stored
that nothing uses. Between the first file and the record, that content is referenced by
nothing, so gc in another process must keep off it: the transaction holds the store's lease
for as long as it is open. The lease is the transaction's, not a rule about call order::

    with store.adding() as tx:
        unpacked = tx.unpack(chain_id, stream, media_type, diff_id)
        record = tx.record(config, manifest, layers)

A transaction opened inside another (a build pulling its base image) joins it: the lease is
held until the outer one ends, and only the outer one cleans up after a failure, so an inner
failure never collects the outer one's content.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from lamina.errors import IntegrityError
from lamina.image.streams import ChunkReader
from lamina.model.digest import Digest
from lamina.store.records import ImageRecord, LayerRecord

if TYPE_CHECKING:
    from lamina.model.config import ImageConfig
    from lamina.model.manifest import Manifest
    from lamina.store import Store
    from lamina.store.partial import PartialBlob


class LayerFeed(Protocol):
    """A layer blob coming from elsewhere (a registry), for ``Adding.stream_layer``."""

    def begin(self) -> None:
        """Called before each attempt (a puller takes its download turn here)."""

    def chunks(self, offset: int) -> Iterator[bytes]:
        """The blob's bytes from ``offset`` on."""
        ...

    def received(self, count: int) -> None:
        """Progress: ``count`` bytes of the blob are here."""

    def verifying(self) -> None:
        """Every byte is here; its size and digest are being checked."""

    def verified(self) -> None:
        """The blob is right (the snapshot is not visible yet, the blob not yet in place)."""

    def resumable(self, error: BaseException) -> bool:
        """Whether an attempt that failed with ``error`` keeps its bytes for the next one
        (a network failure: yes; wrong content: no)."""
        ...


# The most a single layer may expand to when no limit is given (``Store.adding`` gives the
# store's, from the settings' ``[layers]``): a bound on decompression bombs.
MAX_LAYER_SIZE = 64 * 1024**3


class Adding:
    """An open transaction adding content and images to ``store`` (see ``Store.adding``)."""

    def __init__(self, store: Store, max_layer_size: int = MAX_LAYER_SIZE) -> None:
        self.store = store
        self.max_layer_size = max_layer_size
        self.records: list[ImageRecord] = []  # the images recorded so far

    def has_layer(self, chain_id: Digest, digest: Digest, foreign: bool = False) -> bool:
        """Whether the layer is complete here: its snapshot, and its blob (a foreign layer's
        blob is never distributed, so it is not needed)."""
        store = self.store
        return store.snapshots.has(chain_id) and (foreign or store.blobs.has(digest))

    def put_blob(self, data: bytes, digest: Digest | None = None) -> Digest:
        """Store ``data`` (verified against ``digest`` when given)."""
        return self.store.blobs.put(data, digest)

    def ingest_blob(self, source: Callable[[], AbstractContextManager[BinaryIO]],
                    digest: Digest, size: int, *, what: str) -> None:
        """Store the blob ``source`` opens, unless it is here (then it is not opened); its
        size and digest checked."""
        if not self.store.blobs.has(digest):
            with source() as stream:
                self.store.blobs.ingest(stream, digest, size, what=what)

    def partial(self, digest: Digest, size: int, *, what: str) -> PartialBlob:
        """A resumable download of blob ``digest``: the bytes kept by an earlier attempt, if
        any, to be continued (see ``lamina.store.partial``)."""
        return self.store.blobs.partial(digest, size, what=what)

    def unpack(self, chain_id: Digest, stream: BinaryIO, media_type: str, diff_id: Digest, *,
               check: Callable[[], None] | None = None) -> int:
        """Unpack a layer as snapshot ``chain_id`` (its diff_id and size checked); its size."""
        return self.store.snapshots.unpack(chain_id, stream, media_type, diff_id,
                                           self.max_layer_size, check=check)

    def unpack_blob(self, layer: LayerRecord) -> LayerRecord:
        """Unpack a layer from its stored blob; ``layer`` with its unpacked size."""
        with self.store.blobs.open(layer.digest) as stream:
            unpacked = self.unpack(layer.chain_id, stream, layer.media_type, layer.diff_id)
        return layer._replace(unpacked_size=unpacked)

    def stream_layer(self, layer: LayerRecord, feed: LayerFeed, *, what: str) -> int:
        """Download a layer blob while unpacking it: each byte is written to a resumable
        partial blob (``lamina.store.partial``, which hashes it) before the extractor sees it.
        The snapshot becomes visible only once both the diff_id and the blob's digest and size
        are verified; then the blob is moved into place. Returns the unpacked size.

        A download cut short keeps its bytes when ``feed.resumable`` says so, and the next
        attempt (here or in a later pull) continues with them. Kept bytes can themselves be
        what is wrong (a registry that lied, a disk that failed): once, start from nothing.
        """
        for attempt in range(2):
            feed.begin()
            partial = self.partial(layer.digest, layer.size, what=what)
            resumed = partial.offset > 0
            try:
                return self._stream_once(layer, partial, feed)
            except IntegrityError:
                if not resumed or attempt:
                    raise
        raise AssertionError("the second attempt returns or raises")

    def _stream_once(self, layer: LayerRecord, partial: PartialBlob, feed: LayerFeed) -> int:
        source = _FeedReader(partial, feed)
        try:
            if self.store.snapshots.has(layer.chain_id):
                source.finish()
                unpacked = self.store.snapshots.size(layer.chain_id)
            else:
                # The request goes out first: the registry sends while the unpacker loads.
                source.prime()
                unpacked = self.unpack(layer.chain_id, cast(BinaryIO, source), layer.media_type,
                                       layer.diff_id, check=source.finish)
                # Another process may have made the snapshot since ``has``: then ``unpack``
                # read nothing and checked nothing, and the blob still has to come in whole.
                source.finish()
            partial.commit()
        except BaseException as err:
            if feed.resumable(err):
                partial.keep()
            else:
                partial.discard()
            raise
        return unpacked

    def record(self, config: ImageConfig, manifest: Manifest, layers: Sequence[LayerRecord], *,
               parent: Digest | None = None, raw_config: bytes | None = None) -> ImageRecord:
        """Store the config and manifest blobs, then record the image (one database
        transaction; StorageError if any file it names is not complete in the store)."""
        self.put_blob(raw_config if raw_config is not None else config.raw,
                      manifest.config.digest)
        self.put_blob(manifest.raw, manifest.digest)
        record = self.store.put_image(config, manifest, layers, parent=parent)
        self.records.append(record)
        return record


class _FeedReader(ChunkReader):
    """A layer blob as one stream: the partial bytes kept from before, then the feed's, each
    written to the partial blob before the reader sees it."""

    def __init__(self, partial: PartialBlob, feed: LayerFeed) -> None:
        self._partial = partial
        self._feed = feed
        self._finished = False
        super().__init__(itertools.chain(partial.existing(), self._network()))

    def _network(self) -> Iterator[bytes]:
        partial = self._partial
        for chunk in self._feed.chunks(partial.offset):
            partial.write(chunk)
            self._feed.received(partial.received)
            yield chunk

    def finish(self) -> None:
        """Read the rest, then check size and digest (before the snapshot becomes visible);
        once done, again does nothing."""
        if self._finished:
            return
        self.drain()
        self._feed.verifying()
        self._partial.verify()
        self._finished = True
        self._feed.verified()
