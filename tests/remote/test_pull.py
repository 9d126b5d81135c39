"""Pulls from real registries on loopback: the CNCF registry filled by skopeo, and lamina's."""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path

import pytest

from helpers.images import Symlink, make_image, make_index
from lamina.engine.pull import PullEvent, pull
from lamina.errors import NotFound
from lamina.model.chain import chain_ids
from lamina.model.digest import Digest
from lamina.remote.options import RemoteOptions
from lamina.store import Store
from registry.servers import Server

from .conftest import skopeo_push

pytestmark = pytest.mark.peer


def events_of(store: Store, name: str, options: RemoteOptions, **kw: object
              ) -> tuple[list[str], list[object]]:
    lines: list[str] = []

    def record(event: PullEvent) -> None:
        if event.status != "Downloading":
            lines.append(f"{event.id}: {event.status}" if event.id else event.status)

    results = pull(store, name, options, progress=record, **kw)  # type: ignore[arg-type]
    return lines, list(results)


def unpacked(store: Store, diff_ids: list[str]) -> list[Path]:
    return [store.snapshots.path(c) for c in chain_ids([Digest(d) for d in diff_ids])]


@pytest.mark.parametrize("fmt", [None, "v2s2"], ids=["oci", "docker-v2"])
def test_pull_from_cncf(cncf: Server, store: Store, options: RemoteOptions, tmp_path: Path,
                        fmt: str | None) -> None:
    image = make_image([{"etc/os-release": b"ID=test\n", "bin/sh": Symlink("busybox")},
                        {"usr/share/doc/a": b"a" * 100_000}, {"tmp/x": b"x"}])
    repo = f"pull/{fmt or 'oci'}"
    skopeo_push(tmp_path, image, f"{cncf.host}/{repo}:v1", fmt)
    lines, results = events_of(store, f"{cncf.host}/{repo}:v1", options)
    [result] = results
    assert result.image_id == image.config_digest  # type: ignore[attr-defined]
    layers = json.loads(store.blobs.read(result.digest))["layers"]  # type: ignore[attr-defined]
    for desc in layers:
        assert f"{desc['digest'][7:19]}: Pull complete" in lines
        assert store.blobs.has(Digest(desc["digest"]))
    assert lines[0] == f"v1: Pulling from {repo}"
    assert lines[-1] == f"Digest: {result.digest}"  # type: ignore[attr-defined]
    first, second, _ = unpacked(store, image.diff_ids)
    assert (first / "etc/os-release").read_bytes() == b"ID=test\n"
    assert (first / "bin/sh").is_symlink()
    assert (second / "usr/share/doc/a").stat().st_size == 100_000
    record = store.resolve(f"{cncf.host}/{repo}:v1")
    assert record.id == image.config_digest
    assert f"{cncf.host}/{repo}@{result.digest}" in record.repo_digests  # type: ignore[attr-defined]
    assert store.audit() == []
    assert not list((store.root / "tmp").iterdir())


def test_shared_layers_already_exist(cncf: Server, store: Store, options: RemoteOptions,
                                     tmp_path: Path) -> None:
    base = {"lib/libc.so": b"libc" * 10_000}
    one = make_image([base, {"app/one": b"1"}])
    two = make_image([base, {"app/two": b"2"}])
    skopeo_push(tmp_path, one, f"{cncf.host}/shared/one:1")
    skopeo_push(tmp_path, two, f"{cncf.host}/shared/two:1")
    pull(store, f"{cncf.host}/shared/one:1", options)
    lines, _ = events_of(store, f"{cncf.host}/shared/two:1", options)
    shared, own = (d[7:19] for d in two.layer_digests)
    assert f"{shared}: Already exists" in lines
    assert f"{own}: Pull complete" in lines
    assert f"{shared}: Pull complete" not in lines
    # Pulling again downloads nothing and says the image is up to date.
    lines, [result] = events_of(store, f"{cncf.host}/shared/two:1", options)
    assert result.updated is False  # type: ignore[attr-defined]
    assert f"{own}: Already exists" in lines


@pytest.mark.parametrize("fmt", [None, "v2s2"], ids=["oci-index", "docker-list"])
def test_multi_arch_index(cncf: Server, store: Store, options: RemoteOptions,
                          tmp_path: Path, fmt: str | None) -> None:
    amd64 = make_image([{"arch": b"amd64"}], {"architecture": "amd64"})
    arm64 = make_image([{"arch": b"arm64"}], {"architecture": "arm64", "variant": "v8"})
    index = make_index([amd64, arm64])
    repo = f"{cncf.host}/multi/{fmt or 'oci'}"
    skopeo_push(tmp_path, index, f"{repo}:1", fmt)
    [result] = pull(store, f"{repo}:1", options, platform="linux/amd64")
    assert result.image_id == amd64.config_digest
    top = json.loads(store.blobs.read(result.digest))
    expected = index.media_type if fmt is None else \
        "application/vnd.docker.distribution.manifest.list.v2+json"
    assert top["mediaType"] == expected
    if fmt is None:
        assert result.digest == index.digest  # the repo digest is the index's, as docker's
    [result] = pull(store, f"{repo}:1", options, platform="linux/arm64")
    assert result.image_id == arm64.config_digest
    with pytest.raises(NotFound) as info:
        pull(store, f"{repo}:1", options, platform="linux/s390x")
    assert "linux/s390x" in str(info.value)
    assert "linux/amd64, linux/arm64/v8" in str(info.value)


def test_zstd_and_uncompressed_layers(cncf: Server, store: Store, options: RemoteOptions,
                                      tmp_path: Path) -> None:
    zstd = make_image([{"z": b"zstd" * 1000}, {"y": b"y"}], compression="zstd")
    plain = make_image([{"p": b"plain" * 1000}], compression="none")
    skopeo_push(tmp_path, zstd, f"{cncf.host}/comp/zstd:1")
    skopeo_push(tmp_path, plain, f"{cncf.host}/comp/plain:1")
    [z] = pull(store, f"{cncf.host}/comp/zstd:1", options)
    [p] = pull(store, f"{cncf.host}/comp/plain:1", options)
    assert (z.image_id, p.image_id) == (zstd.config_digest, plain.config_digest)
    assert (unpacked(store, zstd.diff_ids)[0] / "z").read_bytes() == b"zstd" * 1000
    assert (unpacked(store, plain.diff_ids)[0] / "p").read_bytes() == b"plain" * 1000


def test_pull_by_digest_and_all_tags(cncf: Server, store: Store, options: RemoteOptions,
                                     tmp_path: Path) -> None:
    one = make_image([{"v": b"1"}])
    two = make_image([{"v": b"2"}])
    skopeo_push(tmp_path, one, f"{cncf.host}/tags/repo:one")
    skopeo_push(tmp_path, two, f"{cncf.host}/tags/repo:two")
    [by_digest] = pull(store, f"{cncf.host}/tags/repo@{one.manifest_digest}", options)
    assert by_digest.image_id == one.config_digest
    assert by_digest.reference.tag is None
    results = pull(store, f"{cncf.host}/tags/repo", options, all_tags=True)
    assert sorted(r.reference.tag for r in results) == ["one", "two"]
    assert store.resolve(f"{cncf.host}/tags/repo:two").id == two.config_digest


def test_pull_from_lamina_registry(lamina_registry: Server, store: Store,
                                   options: RemoteOptions, tmp_path: Path) -> None:
    image = make_image([{"a": b"a" * 5000}, {"b": b"b"}])
    skopeo_push(tmp_path, image, f"{lamina_registry.host}/own/img:1")
    [result] = pull(store, f"{lamina_registry.host}/own/img:1", options)
    assert result.image_id == image.config_digest
    assert result.digest == image.manifest_digest


def test_unknown_tag_and_repository(cncf: Server, store: Store, options: RemoteOptions) -> None:
    with pytest.raises(NotFound) as info:
        pull(store, f"{cncf.host}/none/such:tag", options)
    assert str(info.value).startswith(f"manifest for {cncf.host}/none/such:tag not found")


def test_a_snapshot_made_meanwhile_by_another_pull_still_stores_the_whole_blob(
        cncf: Server, store: Store, options: RemoteOptions, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process unpacks the same layer between this pull's look for its snapshot and
    its own unpacking: ``unpack`` then reads nothing, and the pull must still download, check
    and store the whole blob (it used to store what it had primed, and fail its size check)."""
    from lamina.store.snapshots import SnapshotStore

    big = random.Random(5).randbytes(1_500_000)  # more than one read of the primed response
    image = make_image([{"data": big}])
    skopeo_push(tmp_path, image, f"{cncf.host}/race/snapshot:1")
    blob = Digest(image.layer_digests[0])
    [chain_id] = chain_ids([Digest(image.diff_ids[0])])
    # The other process's snapshot: unpacked from the same layer, its blob not (yet) stored.
    store.snapshots.unpack(chain_id, io.BytesIO(image.blobs[image.layer_digests[0]]),
                           image.manifest_json["layers"][0]["mediaType"],
                           Digest(image.diff_ids[0]), 1 << 30)
    store.release()
    real_has = SnapshotStore.has

    def has(self: SnapshotStore, chain_id: Digest) -> bool:
        # Not there yet when the layer's download looks, there when the pull records it.
        return sys._getframe(1).f_code.co_name != "_stream_layer" and real_has(self, chain_id)

    monkeypatch.setattr(SnapshotStore, "has", has)
    [result] = pull(store, f"{cncf.host}/race/snapshot:1", options)
    monkeypatch.undo()
    assert result.image_id == image.config_digest
    assert store.blobs.path(blob).read_bytes() == image.blobs[image.layer_digests[0]]
    assert store.audit() == []
