"""``Store.adding()``: the one transaction that adds images, with the lease as part of it."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.images import make_image, make_layer
from lamina.model import mediatype
from lamina.model.chain import chain_ids
from lamina.model.config import ImageConfig
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest
from lamina.store import LayerRecord, Store

from .support import add_image


class Boom(Exception):
    pass


def test_success_records_and_lets_go_of_the_lease(tmp_path: Path) -> None:
    with Store(tmp_path) as store, Store(tmp_path) as other:
        image = make_image([{"etc/a": b"a\n"}])
        record = add_image(store, image)
        # The block is over: another process's gc runs at once, and keeps the recorded image.
        assert other.gc(wait=0) == 0
        assert other.audit() == []
        assert store.image(record.id).layers[0].unpacked_size > 0


def test_failure_removes_what_the_transaction_stored(tmp_path: Path) -> None:
    tar = make_layer({"etc/b": b"b\n"})
    diff_id = Digest.of(tar)
    with Store(tmp_path) as store:
        before = sorted(store.blobs.digests())
        with pytest.raises(Boom), store.adding() as tx:
            blob = tx.put_blob(b"config that will never be recorded")
            tx.unpack(diff_id, io.BytesIO(tar), mediatype.OCI_LAYER, diff_id)
            assert store.blobs.has(blob) and store.snapshots.has(diff_id)
            raise Boom()
        assert sorted(store.blobs.digests()) == before
        assert not store.snapshots.has(diff_id)
        assert store.audit() == []


def test_other_processes_gc_keeps_off_until_the_transaction_ends(tmp_path: Path) -> None:
    with Store(tmp_path) as adder, Store(tmp_path) as collector:
        with adder.adding() as tx:
            digest = tx.put_blob(b"stored, not yet recorded")
            assert collector.gc(wait=0.1) == 0
            assert adder.blobs.has(digest)
        # Nothing recorded it: now it is garbage.
        assert collector.gc(wait=0.1) == len(b"stored, not yet recorded")


def test_an_inner_failure_keeps_the_outer_transactions_content(tmp_path: Path) -> None:
    """A build pulling its base image: the pull failing must not collect the build's layers."""
    tar = make_layer({"etc/c": b"c\n"})
    diff_id = Digest.of(tar)
    with Store(tmp_path) as store, store.adding() as outer:
        size = outer.unpack(diff_id, io.BytesIO(tar), mediatype.OCI_LAYER, diff_id)
        blob = outer.put_blob(tar)
        with pytest.raises(Boom), store.adding() as inner:
            inner.put_blob(b"the inner one's")
            raise Boom()
        assert store.snapshots.has(diff_id) and store.blobs.has(blob)
        layer = LayerRecord(diff_id, chain_ids([diff_id])[0], blob, mediatype.OCI_LAYER,
                            len(tar), size)
        image = make_image([tar], media_types="oci", compression="none")
        config = ImageConfig.parse(image.config)
        manifest = Manifest.parse(image.manifest)
        record = outer.record(config, manifest, [layer])
        assert outer.records == [record]
    with Store(tmp_path) as store:
        assert store.image(record.id).layers == [layer]
        assert store.audit() == []


def test_record_refuses_an_image_whose_files_are_missing(tmp_path: Path) -> None:
    from lamina.errors import StorageError

    image = make_image([{"etc/d": b"d\n"}])
    config = ImageConfig.parse(image.config)
    manifest = Manifest.parse(image.manifest)
    desc = manifest.layers[0]
    layer = LayerRecord(config.diff_ids[0], config.diff_ids[0], desc.digest, desc.media_type,
                        desc.size, 1)
    with Store(tmp_path) as store:
        with pytest.raises(StorageError, match="not in the store"), store.adding() as tx:
            tx.record(config, manifest, [layer])
        # The config and manifest blobs it had put went with the failure.
        assert list(store.blobs.digests()) == []


class Feed:
    """A layer blob served from memory; it can hang up after ``cut`` bytes, once."""

    def __init__(self, blob: bytes, cut: int | None = None) -> None:
        self.blob = blob
        self.cut = cut
        self.offsets: list[int] = []
        self.events: list[str] = []

    def begin(self) -> None:
        self.events.append("begin")

    def chunks(self, offset: int) -> Iterator[bytes]:
        from lamina.errors import TransportError

        self.offsets.append(offset)
        for start in range(offset, len(self.blob), 1000):
            if self.cut is not None and start >= self.cut:
                self.cut = None
                raise TransportError("connection reset")
            yield self.blob[start:start + 1000]

    def received(self, count: int) -> None:
        pass

    def verifying(self) -> None:
        self.events.append("verifying")

    def verified(self) -> None:
        self.events.append("verified")

    def resumable(self, error: BaseException) -> bool:
        from lamina.errors import TransportError

        return isinstance(error, TransportError)


def _layer(files: dict[str, bytes]) -> tuple[bytes, LayerRecord]:
    import gzip

    tar = make_layer(files)
    blob = gzip.compress(tar)
    diff_id = Digest.of(tar)
    return blob, LayerRecord(diff_id, diff_id, Digest.of(blob), mediatype.OCI_LAYER_GZIP,
                             len(blob), 0)


def test_stream_layer_resumes_a_cut_download(tmp_path: Path) -> None:
    from lamina.errors import TransportError

    blob, layer = _layer({"big": random.Random(1).randbytes(100_000)})
    feed = Feed(blob, cut=3000)
    with Store(tmp_path) as store:
        with pytest.raises(TransportError), store.adding() as tx:
            tx.stream_layer(layer, feed, what="layer")
        assert not store.blobs.has(layer.digest) and not store.snapshots.has(layer.chain_id)
        with store.adding() as tx:
            unpacked = tx.stream_layer(layer, feed, what="layer")
            assert unpacked == store.snapshots.size(layer.chain_id) > 0
            assert store.blobs.read(layer.digest) == blob
    assert feed.offsets == [0, 3000]  # the second pull asked only for the rest
    assert feed.events[-3:] == ["begin", "verifying", "verified"]


def test_stream_layer_refuses_wrong_bytes_and_keeps_nothing(tmp_path: Path) -> None:
    from lamina.errors import IntegrityError

    _, layer = _layer({"a": b"a" * 5000})
    other, _ = _layer({"b": b"b" * 5000})
    with Store(tmp_path) as store:
        with pytest.raises(IntegrityError), store.adding() as tx:
            tx.stream_layer(layer._replace(size=len(other)), Feed(other), what="layer")
        assert list(store.blobs.digests()) == [] and list(store.snapshots.chain_ids()) == []
        assert not any((tmp_path / "tmp").iterdir())
