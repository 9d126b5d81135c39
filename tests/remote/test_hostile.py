"""A malicious or broken registry gets one clear line naming it and the problem, and the store
is left as it was: wrong digests, wrong sizes, endless bodies, bad JSON, wrong media types,
redirects to another host."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers.images import OCI_MANIFEST, compress, make_image, make_layer, sha256
from helpers.state import store_state
from lamina.engine.pull import pull
from lamina.errors import LaminaError
from lamina.remote.options import RemoteOptions
from lamina.store import Store

from .fakeregistry import Answer, FakeRegistry, Request, blob_answer, endless

REPO = "evil/image"


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake


@pytest.fixture
def seeded(store: Store, options: RemoteOptions, registry: FakeRegistry) -> Store:
    """A store that already holds one image (so "unchanged" means something)."""
    image = make_image([{"seed": b"seed"}])
    registry.add_image("seed/image", "1", image)
    pull(store, f"{registry.host}/seed/image:1", options)
    return store


def refuse(store: Store, options: RemoteOptions, registry: FakeRegistry, name: str,
           *words: str) -> str:
    before = store_state(store.root)
    with pytest.raises(LaminaError) as info:
        pull(store, name, options)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert store_state(store.root) == before
    return message


def layer_of(image: object, index: int = 0) -> str:
    return image.layer_digests[index]  # type: ignore[attr-defined,no-any-return]


def test_layer_with_wrong_content(seeded: Store, options: RemoteOptions,
                                  registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a" * 10_000}, {"b": b"b"}])
    registry.add_image(REPO, "1", image)
    other = compress(make_layer({"evil": b"evil"}), "gzip")
    digest = layer_of(image)
    registry.blobs[digest] = other + b"\0" * max(0, len(registry.blobs[digest]) - len(other))
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host, digest[7:19])


def test_layer_longer_than_its_descriptor(seeded: Store, options: RemoteOptions,
                                          registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a" * 10_000}])
    registry.add_image(REPO, "1", image)
    registry.blobs[layer_of(image)] += b"trailing garbage"
    message = refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host)
    assert "more than" in message or "bytes" in message


def test_endless_layer_body_is_cut_off(seeded: Store, options: RemoteOptions,
                                       registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a" * 10_000}])
    registry.add_image(REPO, "1", image)
    digest = layer_of(image)

    def hook(request: Request) -> Answer | None:
        if request.path.endswith(digest):
            return Answer(200, {}, endless())  # no Content-Length, never ends
        return None

    registry.hook = hook
    message = refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host)
    assert "more than" in message


def test_endless_manifest_is_capped(seeded: Store, options: RemoteOptions,
                                    registry: FakeRegistry) -> None:
    def hook(request: Request) -> Answer | None:
        if "/manifests/" in request.path:
            return Answer(200, {"Content-Type": OCI_MANIFEST}, endless(b" " * 65536))
        return None

    registry.hook = hook
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host,
           "exceeds the limit of 4194304 bytes")


def test_manifest_with_bad_json(seeded: Store, options: RemoteOptions,
                                registry: FakeRegistry) -> None:
    registry.add_manifest(REPO, "1", b'{"schemaVersion": 2, "layers": [', OCI_MANIFEST)
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host, "JSON")


def test_manifest_with_wrong_media_type(seeded: Store, options: RemoteOptions,
                                        registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a"}])
    registry.add_image(REPO, "1", image)
    raw, _ = registry.manifests[(REPO, "1")]
    registry.manifests[(REPO, "1")] = (raw, "application/vnd.docker.distribution.manifest.list.v2+json")
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host, "mediaType")


def test_layer_with_unknown_media_type(seeded: Store, options: RemoteOptions,
                                       registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a"}])
    doc = image.manifest_json
    doc["layers"][0]["mediaType"] = "text/html"
    raw = json.dumps(doc).encode()
    registry.blobs.update(image.blobs)
    registry.add_manifest(REPO, "1", raw, OCI_MANIFEST)
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host, "text/html")


def test_docker_content_digest_mismatch(seeded: Store, options: RemoteOptions,
                                        registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a"}])
    registry.add_image(REPO, "1", image)

    def hook(request: Request) -> Answer | None:
        if "/manifests/" in request.path:
            answer = registry.answer(request)
            answer.headers["Docker-Content-Digest"] = sha256(b"something else")
            return answer
        return None

    registry.hook = hook
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host,
           "Docker-Content-Digest")


def test_manifest_by_digest_must_hash_to_it(seeded: Store, options: RemoteOptions,
                                            registry: FakeRegistry) -> None:
    asked = make_image([{"a": b"asked"}])
    sent = make_image([{"a": b"sent"}])
    registry.add_image(REPO, None, sent)
    registry.manifests[(REPO, asked.manifest_digest)] = (sent.manifest, OCI_MANIFEST)
    refuse(seeded, options, registry, f"{registry.host}/{REPO}@{asked.manifest_digest}",
           registry.host, "not the one asked for")


def test_config_with_wrong_digest(seeded: Store, options: RemoteOptions,
                                  registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a"}])
    registry.add_image(REPO, "1", image)
    registry.blobs[image.config_digest] = image.config.replace(b"amd64", b"arm64")
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host,
           "image config")


def test_diff_id_mismatch(seeded: Store, options: RemoteOptions, registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a"}], {"rootfs": {"type": "layers",
                                                  "diff_ids": [sha256(b"not the tar")]}})
    registry.add_image(REPO, "1", image)
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host)


def test_hostile_tar_entry(seeded: Store, options: RemoteOptions, registry: FakeRegistry,
                           tmp_path: Path) -> None:
    image = make_image([{"../../escape": b"x"}])
    registry.add_image(REPO, "1", image)
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", registry.host, "escape")
    assert not (tmp_path / "escape").exists()


def test_redirect_to_another_host_drops_authorization(store: Store, registry: FakeRegistry
                                                       ) -> None:
    """The registry wants Basic auth and sends blobs to a CDN on another port: the CDN must
    never see the registry's Authorization."""
    image = make_image([{"a": b"a" * 1000}])
    expected = "Basic " + base64.b64encode(b"user:secret").decode()
    with FakeRegistry() as cdn:
        cdn.blobs.update(image.blobs)
        registry.add_image(REPO, "1", image)

        def hook(request: Request) -> Answer | None:
            if request.headers.get("authorization") != expected:
                return Answer(401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"{}")
            if "/blobs/" in request.path:
                return Answer(307, {"Location": f"http://{cdn.host}{request.path}"}, b"")
            return None

        registry.hook = hook
        options = RemoteOptions(retries=1, backoff=0.01, certs_dirs=(),
                                credentials=lambda _host: ("user", "secret"))
        [result] = pull(store, f"{registry.host}/{REPO}:1", options)
        assert result.image_id == image.config_digest
        assert cdn.blob_requests(), "the blobs came from the CDN"
        assert all("authorization" not in r.headers for r in cdn.requests)
        assert any(r.headers.get("authorization") == expected for r in registry.requests)


def test_unauthorized_names_the_repository(seeded: Store, options: RemoteOptions,
                                           registry: FakeRegistry) -> None:
    def hook(request: Request) -> Answer | None:
        return Answer(401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"{}")

    registry.hook = hook
    refuse(seeded, options, registry, f"{registry.host}/{REPO}:1", "pull access denied",
           REPO)


def _flaky(registry: FakeRegistry, digest: str) -> Callable[[Request], Answer | None]:
    """503, then 429 with Retry-After, then a body cut in the middle; then the real thing."""
    failures = iter(["503", "429", "cut"])

    def hook(request: Request) -> Answer | None:
        if not request.path.endswith(digest):
            return None
        kind = next(failures, None)
        if kind == "503":
            return Answer(503, {}, b"busy")
        if kind == "429":
            return Answer(429, {"Retry-After": "0"}, b"slow down")
        if kind == "cut":
            data = registry.blobs[digest]
            answer = blob_answer(data, request.headers.get("range"))
            full = answer.body
            assert isinstance(full, bytes)
            answer.length = len(full)
            answer.headers["Connection"] = "close"
            answer.body = [full[: len(full) // 2]]  # announces all, sends half, hangs up
            return answer
        return None

    return hook


def test_transient_errors_are_retried_and_resumed(store: Store, registry: FakeRegistry) -> None:
    image = make_image([{"big": bytes(range(256)) * 4000}], compression="none")
    registry.add_image(REPO, "1", image)
    digest = layer_of(image)
    registry.hook = _flaky(registry, digest)
    options = RemoteOptions(retries=4, backoff=0.01, certs_dirs=())
    [result] = pull(store, f"{registry.host}/{REPO}:1", options)
    assert result.image_id == image.config_digest
    ranges = [r.headers.get("range") for r in registry.blob_requests() if r.path.endswith(digest)]
    half = len(registry.blobs[digest]) // 2
    assert ranges[-1] == f"bytes={half}-", ranges


def test_pull_all_tags_follows_pagination(store: Store, options: RemoteOptions,
                                          registry: FakeRegistry) -> None:
    images = {tag: make_image([{"t": tag.encode()}]) for tag in ("a", "b", "c")}
    for tag, image in images.items():
        registry.add_image(REPO, tag, image)

    def hook(request: Request) -> Answer | None:
        if "/tags/list" not in request.path:
            return None
        page2 = "last=b" in request.path
        body = json.dumps({"name": REPO, "tags": ["c"] if page2 else ["a", "b"]}).encode()
        headers = {"Content-Type": "application/json"}
        if not page2:
            headers["Link"] = f'</v2/{REPO}/tags/list?n=2&last=b>; rel="next"'
        return Answer(200, headers, body)

    registry.hook = hook
    results = pull(store, f"{registry.host}/{REPO}", options, all_tags=True)
    assert [r.reference.tag for r in results] == ["a", "b", "c"]
    assert [r.image_id for r in results] == [images[t].config_digest for t in "abc"]


def test_platform_of_a_single_manifest_is_checked(store: Store, options: RemoteOptions,
                                                  registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a"}], {"architecture": "arm64", "variant": "v8"})
    registry.add_image(REPO, "1", image)
    with pytest.raises(LaminaError, match="wanted linux/amd64, actual: linux/arm64"):
        pull(store, f"{registry.host}/{REPO}:1", options, platform="linux/amd64")
    [result] = pull(store, f"{registry.host}/{REPO}:1", options)  # no platform asked: taken
    assert result.image_id == image.config_digest


def test_tag_and_digest_pulls_by_digest_without_tagging(store: Store, options: RemoteOptions,
                                                        registry: FakeRegistry) -> None:
    image = make_image([{"a": b"a"}])
    registry.add_image(REPO, None, image)
    [result] = pull(store, f"{registry.host}/{REPO}:ignored@{image.manifest_digest}", options)
    assert result.image_id == image.config_digest
    assert store.resolve(result.image_id).tags == []


def test_a_layer_refused_keeps_the_registrys_status_and_code(seeded: Store, options: RemoteOptions,
                                                           registry: FakeRegistry) -> None:
    """An error rewrapped on its way up (the host, the layer, the repository added) keeps what
    it carries: the HTTP status and the registry's error code."""
    from lamina.errors import RegistryError

    image = make_image([{"a": b"a" * 1000}])
    registry.add_image(REPO, "1", image)
    digest = layer_of(image)
    body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "quota"}]}).encode()

    def hook(request: Request) -> Answer | None:
        if request.path.endswith(digest):
            return Answer(429, {"Content-Type": "application/json"}, body)
        return None

    registry.hook = hook
    before = store_state(seeded.root)
    with pytest.raises(RegistryError) as info:
        pull(seeded, f"{registry.host}/{REPO}:1", options)
    assert info.value.status == 429, info.value
    assert info.value.code == "TOOMANYREQUESTS"
    assert registry.host in str(info.value)
    assert store_state(seeded.root) == before
