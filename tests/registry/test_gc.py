"""Online garbage collection: what it keeps, what it removes, and that it is safe while pushes
go on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from helpers.images import make_image, make_index
from lamina.registry.app import create_app
from lamina.registry.config import RegistryConfig
from lamina.registry.gc import GCReport, collect_garbage, run_gc
from lamina.registry.serve import config_from_mapping
from lamina.registry.service import Registry
from lamina.registry.storage import blob_key, upload_key

from .cluster import S3_KEY, S3_SECRET, PostgresCluster, SeaweedFS
from .conformance import (
    ACCEPT_ALL,
    http_client,
    pull_complete,
    push_blob,
    push_image,
    sha256,
    uvicorn_server,
)

GRACE = 60.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Env:
    def __init__(self, root: Path, **backends: dict[str, object]) -> None:
        self.config = RegistryConfig(root=root, gc_grace_seconds=int(GRACE), log_requests=False)
        if backends:
            self.config = config_from_mapping(
                {
                    "root": str(root),
                    "gc_grace_seconds": int(GRACE),
                    "log_requests": False,
                    **backends,
                }
            )
        self.registry = Registry(self.config)
        self.client = TestClient(create_app(self.config, registry=self.registry))

    def gc(self, *, later: float = GRACE + 1, **kw: object) -> GCReport:
        """Collect as if ``later`` seconds had passed."""
        return collect_garbage(
            self.registry.metadata,
            self.registry.storage,
            grace_seconds=GRACE,
            now=time.time() + later,
            **kw,  # type: ignore[arg-type]
        )

    def has_blob(self, repo: str, digest: str) -> bool:
        return self.client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200

    def blob_file(self, digest: str) -> bool:
        """Whether any object in storage holds the bytes of ``digest``."""
        storage = self.registry.storage
        for prefix in ("objects", "blobs"):
            for info in storage.walk(prefix):
                if sha256(storage.read(info.path)) == digest:
                    return True
        return False

    def has_manifest(self, repo: str, reference: str) -> bool:
        r = self.client.head(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT_ALL)
        return r.status_code == 200


@pytest.fixture(params=["sqlite+filesystem", "postgres+s3"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite+filesystem":
        e = Env(tmp_path)
    else:
        postgres: PostgresCluster = request.getfixturevalue("postgres")
        seaweed: SeaweedFS = request.getfixturevalue("seaweed")
        e = Env(
            tmp_path,
            metadata={"kind": "postgres", "dsn": postgres.create_database()},
            storage={
                "driver": "s3",
                "endpoint": seaweed.endpoint,
                "bucket": seaweed.create_bucket(),
                "access_key": S3_KEY,
                "secret_key": S3_SECRET,
            },
        )
    with e.client:
        yield e
    e.registry.close()


def img(seed: str, **config: str) -> object:
    return make_image([{seed: seed.encode() * 50}], dict(config) or None)


def test_tagged_images_are_kept(env: Env) -> None:
    image = img("kept")
    push_image(env.client, "a", image, "v1")
    report = env.gc(delete_untagged=True)
    assert report.manifests == [] and report.blobs == []
    pull_complete(env.client, "a", "v1", ACCEPT_ALL)


def test_blobs_of_a_deleted_manifest_go(env: Env) -> None:
    image, other = img("gone"), img("stays")
    digest = push_image(env.client, "a", image, "v1")
    push_image(env.client, "a", other, "v2")
    env.client.delete(f"/v2/a/manifests/{digest}")
    report = env.gc()
    layer = image.layer_digests[0]
    assert layer in report.blobs and image.config_digest in report.blobs
    assert report.bytes_freed == len(image.blobs[layer]) + len(image.config)
    assert not env.has_blob("a", layer) and not env.blob_file(layer)
    pull_complete(env.client, "a", "v2", ACCEPT_ALL)


def test_nothing_is_removed_within_the_grace_period(env: Env) -> None:
    image = img("young")
    digest = push_image(env.client, "a", image, "v1")
    env.client.delete(f"/v2/a/manifests/{digest}")
    orphan = push_blob(env.client, "a", b"uploaded, not yet referenced")
    report = env.gc(later=0, delete_untagged=True)
    assert report.blobs == [] and report.links == 0
    assert env.has_blob("a", orphan) and env.has_blob("a", image.layer_digests[0])


def test_untagged_manifests(env: Env) -> None:
    image = img("untagged")
    digest = push_image(env.client, "a", image)  # by digest, no tag
    assert env.gc().manifests == []
    assert env.has_manifest("a", digest)
    report = env.gc(delete_untagged=True)
    assert report.manifests == [("a", digest)]
    assert not env.has_manifest("a", digest)
    assert not env.blob_file(image.layer_digests[0])


def test_children_of_a_tagged_index_are_kept(env: Env) -> None:
    a, b = img("x", architecture="amd64"), img("y", architecture="arm64")
    index = make_index([a, b])
    push_image(env.client, "multi", index, "latest")
    report = env.gc(delete_untagged=True)
    assert report.manifests == [] and report.blobs == []
    pull_complete(env.client, "multi", "latest", ACCEPT_ALL)
    # Untag the index: it and its children go together.
    env.client.delete("/v2/multi/manifests/latest")
    report = env.gc(delete_untagged=True)
    assert {d for _r, d in report.manifests} == {
        index.digest,
        a.manifest_digest,
        b.manifest_digest,
    }
    assert report.manifests[0] == ("multi", index.digest)  # the parent first


def _referrer(env: Env, repo: str, subject: str, size: int) -> str:
    config = push_blob(env.client, repo, b"{}")
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sig",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
        }
    ).encode()
    from .conformance import push_manifest, sha256

    assert push_manifest(env.client, repo, sha256(raw), raw, OCI_MANIFEST).status_code == 201
    return sha256(raw)


def test_referrers_live_and_die_with_their_subject(env: Env) -> None:
    image = img("signed")
    digest = push_image(env.client, "s", image, "v1")
    sig = _referrer(env, "s", digest, len(image.manifest))
    assert env.gc(delete_untagged=True).manifests == []
    assert env.has_manifest("s", sig)
    env.client.delete("/v2/s/manifests/v1")
    report = env.gc(delete_untagged=True)
    assert report.manifests == [("s", digest), ("s", sig)]


def test_dry_run_removes_nothing(env: Env) -> None:
    image = img("dry")
    digest = push_image(env.client, "a", image, "v1")
    env.client.delete("/v2/a/manifests/v1")
    report = env.gc(delete_untagged=True, dry_run=True)
    assert report.dry_run and report.manifests == [("a", digest)]
    assert set(report.blobs) == set(image.blobs)
    assert env.has_manifest("a", digest) and env.has_blob("a", image.layer_digests[0])
    assert "would remove 1 manifests" in report.summary()


def test_a_dry_run_reports_what_a_real_run_removes(env: Env) -> None:
    """An untagged index frees its children, a referrer of it goes too, a blob one child
    shares with a tagged image stays: the dry run, which removes nothing, must foresee all of
    it pass by pass, and agree with the run that follows."""
    a, b = img("x", architecture="amd64"), img("y", architecture="arm64")
    kept = make_image([{"y": b"y" * 50}, {"own": b"own"}])  # shares b's layer
    index = make_index([a, b])
    push_image(env.client, "multi", index, "latest")
    push_image(env.client, "multi", kept, "stays")
    _referrer(env, "multi", index.digest, len(index.index))
    orphan = push_blob(env.client, "multi", b"uploaded, never referenced")
    env.client.delete("/v2/multi/manifests/latest")
    dry = env.gc(delete_untagged=True, dry_run=True)
    assert len(dry.manifests) == 4 and orphan in dry.blobs
    assert b.layer_digests[0] not in dry.blobs  # the tagged image still needs it
    assert env.has_manifest("multi", index.digest) and env.has_blob("multi", orphan)
    real = env.gc(delete_untagged=True)
    assert set(dry.manifests) == set(real.manifests)
    assert sorted(dry.blobs) == sorted(real.blobs)
    assert (dry.links, dry.bytes_freed) == (real.links, real.bytes_freed)
    pull_complete(env.client, "multi", "stays", ACCEPT_ALL)


def test_a_dry_run_foresees_the_signatures_of_a_deleted_image(env: Env) -> None:
    """A cosign signature (the ``sha256-<hex>.sig`` tag) outlives its image only until GC,
    which removes it first and then frees its blobs: a dry run lists those blobs too."""
    from .conformance import push_manifest

    image = img("signed image")
    digest = push_image(env.client, "cosigned", image, "v1")
    config = push_blob(env.client, "cosigned", b"{}")
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": digest}}}).encode()
    layer = push_blob(env.client, "cosigned", payload)
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                        "digest": layer, "size": len(payload)}],
        }
    ).encode()  # fmt: skip
    tag = digest.replace(":", "-") + ".sig"
    assert push_manifest(env.client, "cosigned", tag, raw, OCI_MANIFEST).status_code == 201
    assert env.client.delete(f"/v2/cosigned/manifests/{digest}").status_code == 202
    dry = env.gc(dry_run=True)
    assert ("cosigned", tag) in dry.manifests
    assert {layer, config} <= set(dry.blobs) and set(image.blobs) <= set(dry.blobs)
    assert env.has_manifest("cosigned", tag) and env.has_blob("cosigned", layer)
    real = env.gc()
    assert sorted(dry.blobs) == sorted(real.blobs)
    assert (dry.links, dry.bytes_freed) == (real.links, real.bytes_freed)
    assert not env.has_manifest("cosigned", tag) and not env.blob_file(layer)


def test_shared_blobs_stay_while_any_repository_uses_them(env: Env) -> None:
    image = img("shared")
    push_image(env.client, "one", image, "v1")
    layer = image.layer_digests[0]
    r = env.client.post(f"/v2/two/blobs/uploads/?mount={layer}&from=one")
    assert r.status_code == 201
    push_image(env.client, "two", image, "v1")
    env.client.delete(f"/v2/one/manifests/{image.manifest_digest}")
    report = env.gc()
    assert layer not in report.blobs and env.blob_file(layer)
    assert not env.has_blob("one", layer)  # the unreferenced link went
    pull_complete(env.client, "two", "v1", ACCEPT_ALL)


def test_upload_sessions(env: Env) -> None:
    r = env.client.post("/v2/u/blobs/uploads/")
    location = r.headers["location"]
    env.client.patch(location, content=b"partial")
    assert env.gc(later=0).uploads == 0
    report = env.gc()
    assert report.uploads == 1
    assert env.client.get(location).status_code == 404
    upload_id = location.rsplit("/", 1)[1]
    assert list(env.registry.storage.walk(upload_key(upload_id))) == []


def test_orphan_files(env: Env) -> None:
    # A push killed between placing a blob and committing its record leaves a file alone.
    digest = "sha256:" + "ab" * 32
    env.registry.storage.put(blob_key(digest), b"orphan")
    env.registry.storage.put(f"{upload_key('debris')}/data", b"x")
    env.registry.storage.put("objects/killed-before-commit", b"y")
    assert env.gc(later=0).orphan_files == 0
    report = env.gc()
    assert report.orphan_files == 3
    assert not env.blob_file(digest)
    assert list(env.registry.storage.walk(upload_key("debris"))) == []
    assert env.registry.storage.stat("objects/killed-before-commit") is None


def test_run_gc_uses_the_configured_root(tmp_path: Path) -> None:
    config = RegistryConfig(root=tmp_path, gc_grace_seconds=0, log_requests=False)
    with TestClient(create_app(config)) as client:
        image = img("cfg")
        digest = push_image(client, "a", image, "v1")
        client.delete(f"/v2/a/manifests/{digest}")
    time.sleep(0.01)
    report = run_gc(config, delete_untagged=True)
    assert not report.dry_run and set(report.blobs) == set(image.blobs)


@pytest.mark.slow
def test_gc_during_pushes(tmp_path: Path) -> None:
    """Pushes loop (two clients, two server workers) while GC runs without pause; then every
    image still tagged pulls complete, and GC did remove the images untagged meanwhile."""
    config = RegistryConfig(root=tmp_path, gc_grace_seconds=1, log_requests=False)
    base = {"base": b"shared base layer" * 100}
    stop = threading.Event()
    failures: list[BaseException] = []
    tagged: dict[str, str] = {}
    reports: list[GCReport] = []

    def collector() -> None:
        try:
            while not stop.is_set():
                reports.append(run_gc(config, delete_untagged=True))
        except BaseException as exc:
            failures.append(exc)

    def pusher(name: str) -> None:
        try:
            with http_client(server_url) as client:
                i = 0
                while not stop.is_set() and i < 400:
                    image = make_image([base, {f"{name}-{i}": str(i).encode() * 64}])
                    tag = f"t{i}"
                    push_image(client, f"loop/{name}", image, tag)
                    tagged[f"{name}:{tag}"] = image.manifest_digest
                    if i % 2:  # untag every other image, so GC has work to do
                        r = client.delete(f"/v2/loop/{name}/manifests/{tag}")
                        assert r.status_code == 202
                        del tagged[f"{name}:{tag}"]
                    i += 1
        except BaseException as exc:
            failures.append(exc)

    with uvicorn_server(config, workers=2) as server:
        server_url = str(server.base_url)
        threads = [threading.Thread(target=collector)]
        threads += [threading.Thread(target=pusher, args=(n,)) for n in ("p1", "p2")]
        for t in threads:
            t.start()
        time.sleep(6)
        stop.set()
        for t in threads:
            t.join(60)
        assert not failures, failures
        assert len(tagged) > 10
        for key in tagged:
            name, tag = key.split(":")
            pull_complete(server, f"loop/{name}", tag, ACCEPT_ALL)
    removed = sum(len(r.manifests) for r in reports)
    assert len(reports) > 3 and removed > 0, [r.summary() for r in reports]


def _age(env: Env, seconds: float) -> None:
    """Make everything recorded so far look ``seconds`` older."""

    def tx(db: Any) -> None:
        db.execute("UPDATE repo_blobs SET linked = linked - ?", (seconds,))
        db.execute("UPDATE blobs SET last_used = last_used - ?", (seconds,))
        db.execute("UPDATE manifests SET pushed = pushed - ?", (seconds,))

    env.registry.metadata._db.transact(tx)  # type: ignore[attr-defined]


def test_a_blob_found_by_a_client_gets_a_new_grace_period(env: Env) -> None:
    """HEAD then skip the upload then push the manifest: the blob must survive GC between."""
    checked = push_blob(env.client, "a", b"the client checks this one")
    ignored = push_blob(env.client, "a", b"nobody asks for this one")
    _age(env, 2 * GRACE)
    assert env.has_blob("a", checked)  # the HEAD a pushing client does
    report = env.gc(later=0)
    assert report.blobs == [ignored]
    assert env.has_blob("a", checked) and env.blob_file(checked)


def test_a_manifest_found_by_digest_gets_a_new_grace_period(env: Env) -> None:
    child, other = img("child"), img("other")
    digest = push_image(env.client, "a", child)
    other_digest = push_image(env.client, "a", other)
    _age(env, 2 * GRACE)
    assert env.has_manifest("a", digest)  # as docker checks an index's children
    report = env.gc(later=0, delete_untagged=True)
    assert report.manifests == [("a", other_digest)]
    assert env.has_manifest("a", digest)
