"""The OCI Distribution Spec v1.1 conformance matrix (pull, push, content discovery, content
management, with their negative cases), run against the app in-process and against a real
uvicorn server on loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.images import make_image, make_index
from lamina.registry.config import RegistryConfig

from .conformance import (
    ACCEPT_ALL,
    Client,
    error_codes,
    in_process,
    pull_complete,
    push_blob,
    push_image,
    push_manifest,
    sha256,
    uvicorn_server,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
EMPTY_CONFIG = b"{}"
EMPTY = "application/vnd.oci.empty.v1+json"


@pytest.fixture(scope="module", params=["in-process", "uvicorn"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    config = RegistryConfig(root=tmp_path_factory.mktemp("registry"), log_requests=False)
    target = in_process if request.param == "in-process" else uvicorn_server
    with target(config) as c:
        yield c


@pytest.fixture
def repo() -> str:
    return f"conformance/r{uuid.uuid4().hex[:10]}"


def image(seed: str, media_types: str = "oci") -> object:
    return make_image([{f"file-{seed}": seed.encode() * 100}], media_types=media_types)  # type: ignore[arg-type]


# --- end-1 -------------------------------------------------------------------------------------
def test_base_endpoint(client: Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert r.json() == {}


# --- pull (end-2, end-3) -----------------------------------------------------------------------
def test_pull_manifest_by_tag_and_digest(client: Client, repo: str) -> None:
    img = make_image([{"a": b"a" * 1000}])
    digest = push_image(client, repo, img, "v1")
    for reference in ("v1", digest):
        r = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
        assert r.content == img.manifest  # byte for byte as pushed
        assert r.headers["content-type"] == OCI_MANIFEST
        assert r.headers["docker-content-digest"] == digest
        assert r.headers["content-length"] == str(len(img.manifest))
        h = client.head(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert h.status_code == 200 and h.content == b""
        assert h.headers["docker-content-digest"] == digest
        assert h.headers["content-length"] == str(len(img.manifest))
    pull_complete(client, repo, "v1", ACCEPT_ALL)


def test_manifest_bytes_are_kept_exactly(client: Client, repo: str) -> None:
    config = push_blob(client, repo, EMPTY_CONFIG)
    # Odd spacing and key order: a registry that re-serialises changes the digest.
    raw = (
        b'{ "schemaVersion" : 2,\n "mediaType": "%s",\n'
        b' "config": {"size": 2, "digest": "%s", "mediaType": "%s"},\n "layers": [] }\n'
    ) % (OCI_MANIFEST.encode(), config.encode(), EMPTY.encode())
    r = push_manifest(client, repo, "odd", raw, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert r.headers["docker-content-digest"] == sha256(raw)
    assert client.get(f"/v2/{repo}/manifests/odd").content == raw


def test_pull_blob_and_ranges(client: Client, repo: str) -> None:
    data = bytes(range(256)) * 1000
    digest = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200 and r.content == data
    assert r.headers["docker-content-digest"] == digest
    assert r.headers["content-length"] == str(len(data))
    h = client.head(f"/v2/{repo}/blobs/{digest}")
    assert h.status_code == 200 and h.headers["content-length"] == str(len(data))
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=255990-"})
    assert r.status_code == 206 and r.content == data[255990:]
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"


def test_pull_unknown_manifest_and_blob(client: Client, repo: str) -> None:
    push_image(client, repo, image("x"), "v1")
    r = client.get(f"/v2/{repo}/manifests/nope")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    r = client.get(f"/v2/{repo}/manifests/{sha256(b'nope')}")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]
    r = client.head(f"/v2/{repo}/manifests/nope")
    assert r.status_code == 404 and r.content == b""
    r = client.get(f"/v2/{repo}/blobs/{sha256(b'nope')}")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UNKNOWN"]
    assert client.head(f"/v2/{repo}/blobs/{sha256(b'nope')}").status_code == 404


def test_blob_is_visible_only_where_pushed_or_mounted(client: Client, repo: str) -> None:
    digest = push_blob(client, repo, b"private layer")
    r = client.get(f"/v2/{repo}-other/blobs/{digest}")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UNKNOWN"]


def test_accept_negotiation(client: Client, repo: str) -> None:
    amd64 = make_image([{"a": b"1"}], {"architecture": "amd64"}, media_types="docker")
    arm64 = make_image([{"a": b"2"}], {"architecture": "arm64"}, media_types="docker")
    index = make_index([amd64, arm64], media_types="docker")
    push_image(client, repo, index, "multi")
    r = client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": DOCKER_LIST})
    assert r.headers["content-type"] == DOCKER_LIST and r.content == index.index
    # Several Accept headers, as docker sends them.
    r = client.get(
        f"/v2/{repo}/manifests/multi",
        headers=[("Accept", DOCKER_MANIFEST), ("Accept", DOCKER_LIST)],
    )
    assert r.content == index.index
    # A client that cannot read lists gets the linux/amd64 image, as from distribution.
    r = client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 200 and r.content == amd64.manifest
    assert r.headers["docker-content-digest"] == amd64.manifest_digest
    oci = image("oci")
    push_image(client, repo, oci, "oci")
    r = client.get(f"/v2/{repo}/manifests/oci", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]
    r = client.get(f"/v2/{repo}/manifests/oci", headers={"Accept": "*/*"})
    assert r.status_code == 200
    pull_complete(client, repo, "multi", ACCEPT_ALL)


# --- push (end-4 .. end-7, end-11) -------------------------------------------------------------
def test_push_monolithic_post_put(client: Client, repo: str) -> None:
    data = b"monolithic" * 1000
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["location"]
    assert location.startswith(f"/v2/{repo}/blobs/uploads/")
    assert r.headers["docker-upload-uuid"] in location
    r = client.put(location, params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/{repo}/blobs/{sha256(data)}"
    assert r.headers["docker-content-digest"] == sha256(data)
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_push_single_post(client: Client, repo: str) -> None:
    data = b"single post" * 999
    r = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": sha256(data)},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v2/{repo}/blobs/{sha256(data)}"
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_push_chunked_with_status(client: Client, repo: str) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    chunks = [data[i : i + 300_000] for i in range(0, len(data), 300_000)]
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    location = r.headers["location"]
    offset = 0
    for chunk in chunks:
        r = client.patch(
            location,
            content=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                "Content-Length": str(len(chunk)),
            },
        )
        assert r.status_code == 202, r.text
        offset += len(chunk)
        assert r.headers["range"] == f"0-{offset - 1}"
        location = r.headers["location"]
        s = client.get(location)
        assert s.status_code == 204 and s.headers["range"] == f"0-{offset - 1}"
    r = client.put(location, params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_push_chunked_streamed_without_content_range(client: Client, repo: str) -> None:
    data = b"streamed" * 50_000

    def body() -> Iterator[bytes]:
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    r = client.post(f"/v2/{repo}/blobs/uploads/")
    r = client.patch(r.headers["location"], content=body())
    assert r.status_code == 202 and r.headers["range"] == f"0-{len(data) - 1}"
    r = client.put(r.headers["location"], params={"digest": sha256(data)})
    assert r.status_code == 201


def test_push_last_chunk_in_put(client: Client, repo: str) -> None:
    data = b"0123456789" * 100
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    r = client.patch(r.headers["location"], content=data[:600], headers={"Content-Range": "0-599"})
    r = client.put(
        r.headers["location"],
        params={"digest": sha256(data)},
        content=data[600:],
        headers={"Content-Range": f"600-{len(data) - 1}"},
    )
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_out_of_order_chunk_is_416(client: Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    location = r.headers["location"]
    r = client.patch(location, content=b"abc", headers={"Content-Range": "0-2"})
    assert r.status_code == 202
    r = client.patch(location, content=b"xyz", headers={"Content-Range": "10-12"})
    assert r.status_code == 416
    assert r.headers["range"] == "0-2"
    r = client.patch(location, content=b"xyz", headers={"Content-Range": "0-2"})
    assert r.status_code == 416
    r = client.patch(location, content=b"xyz", headers={"Content-Range": "three-five"})
    assert r.status_code == 416 and r.headers["range"] == "0-2"
    # The session is intact and continues where it stood.
    r = client.patch(location, content=b"def", headers={"Content-Range": "3-5"})
    assert r.status_code == 202
    assert client.put(location, params={"digest": sha256(b"abcdef")}).status_code == 201


def test_empty_blob(client: Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    r = client.put(r.headers["location"], params={"digest": sha256(b"")})
    assert r.status_code == 201, r.text
    r = client.get(f"/v2/{repo}/blobs/{sha256(b'')}")
    assert r.status_code == 200 and r.content == b""


def test_wrong_digest_stores_nothing(client: Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    location = r.headers["location"]
    r = client.put(location, params={"digest": sha256(b"other")}, content=b"actual")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    for digest in (sha256(b"other"), sha256(b"actual")):
        assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(b"x")}, content=b"y")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    assert client.head(f"/v2/{repo}/blobs/{sha256(b'y')}").status_code == 404
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    r = client.put(r.headers["location"], params={"digest": "sha256:nothex"}, content=b"x")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    r = client.put(r.headers["location"], content=b"x")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


def test_size_must_match_content_range(client: Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    r = client.patch(r.headers["location"], content=b"abcdef", headers={"Content-Range": "0-9"})
    assert r.status_code == 400 and error_codes(r) == ["SIZE_INVALID"]


def test_cancel_upload(client: Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    location = r.headers["location"]
    client.patch(location, content=b"abc")
    assert client.delete(location).status_code == 204
    r = client.get(location)
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    r = client.patch(location, content=b"abc")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    bogus = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}"
    assert client.get(bogus).status_code == 404
    assert client.get(f"/v2/{repo}/blobs/uploads/not-a-uuid").status_code == 404


def test_upload_session_belongs_to_its_repository(client: Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    upload_id = r.headers["docker-upload-uuid"]
    r = client.get(f"/v2/{repo}-x/blobs/uploads/{upload_id}")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_cross_repository_mount(client: Client, repo: str) -> None:
    digest = push_blob(client, repo, b"shared base layer")
    target = f"{repo}-mounted"
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": repo})
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/{target}/blobs/{digest}"
    assert r.headers["docker-content-digest"] == digest
    assert client.get(f"/v2/{target}/blobs/{digest}").content == b"shared base layer"
    # Not in the source: an ordinary upload session instead.
    missing = sha256(b"missing")
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": missing, "from": repo})
    assert r.status_code == 202 and "/blobs/uploads/" in r.headers["location"]
    r = client.post(f"/v2/{target}-x/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 202  # no source named: an upload session
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201  # already in the repository


def test_push_manifest_and_index(client: Client, repo: str) -> None:
    a = make_image([{"a": b"1"}], {"architecture": "amd64"})
    b = make_image([{"b": b"2"}], {"architecture": "arm64", "variant": "v8"})
    index = make_index([a, b])
    digest = push_image(client, repo, index, "latest")
    r = client.get(f"/v2/{repo}/manifests/latest", headers={"Accept": OCI_INDEX})
    assert r.content == index.index and r.headers["docker-content-digest"] == digest
    pull_complete(client, repo, "latest", ACCEPT_ALL)


def test_push_manifest_response_headers(client: Client, repo: str) -> None:
    img = image("h")
    for data in img.blobs.values():
        push_blob(client, repo, data)
    r = push_manifest(client, repo, "v1", img.manifest, img.media_type)
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/{repo}/manifests/{img.manifest_digest}"
    assert r.headers["docker-content-digest"] == img.manifest_digest
    r = push_manifest(client, repo, img.manifest_digest, img.manifest, img.media_type)
    assert r.status_code == 201


def test_manifest_with_unknown_blob(client: Client, repo: str) -> None:
    img = image("missing")
    push_blob(client, repo, img.config)  # the layer is never pushed
    r = push_manifest(client, repo, "v1", img.manifest, img.media_type)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404


def test_blob_of_another_repository_does_not_count(client: Client, repo: str) -> None:
    img = image("elsewhere")
    for data in img.blobs.values():
        push_blob(client, f"{repo}-other", data)
    r = push_manifest(client, repo, "v1", img.manifest, img.media_type)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]


def test_manifest_sizes_must_match(client: Client, repo: str) -> None:
    img = image("sizes")
    for data in img.blobs.values():
        push_blob(client, repo, data)
    doc = json.loads(img.manifest)
    doc["layers"][0]["size"] += 1
    raw = json.dumps(doc).encode()
    r = push_manifest(client, repo, "v1", raw, img.media_type)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]
    push_image(client, repo, img, "ok")
    index = json.loads(make_index([img]).index)
    index["manifests"][0]["size"] = 1
    r = push_manifest(client, repo, "idx", json.dumps(index).encode(), OCI_INDEX)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]


def test_index_with_unknown_manifest(client: Client, repo: str) -> None:
    a = image("child")
    index = make_index([a])
    r = push_manifest(client, repo, "v1", index.index, index.media_type)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]


def test_manifest_media_type_must_match_body(client: Client, repo: str) -> None:
    img = image("mt")
    for data in img.blobs.values():
        push_blob(client, repo, data)
    r = push_manifest(client, repo, "v1", img.manifest, DOCKER_MANIFEST)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]
    r = push_manifest(client, repo, "v1", img.manifest, OCI_INDEX)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]
    r = push_manifest(client, repo, "v1", b"not json", OCI_MANIFEST)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]
    r = push_manifest(client, repo, "v1", b'{"schemaVersion": 1}', OCI_MANIFEST)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]


def test_manifest_digest_reference_must_match(client: Client, repo: str) -> None:
    img = image("dg")
    for data in img.blobs.values():
        push_blob(client, repo, data)
    r = push_manifest(client, repo, sha256(b"other"), img.manifest, img.media_type)
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


def test_manifest_too_large_is_413(client: Client, repo: str) -> None:
    big = b'{"schemaVersion":2,"layers":[],"pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    r = push_manifest(client, repo, "big", big, OCI_MANIFEST)
    assert r.status_code == 413
    assert client.get(f"/v2/{repo}/manifests/big").status_code == 404


@pytest.mark.parametrize("name", ["UPPER/case", "a//b", "-lead", "trail-", "a_-b", "x" * 256])
def test_invalid_repository_names(client: Client, name: str) -> None:
    r = client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code in (400, 404)
    if r.status_code == 400:
        assert error_codes(r) == ["NAME_INVALID"]


def test_invalid_tag(client: Client, repo: str) -> None:
    img = image("tag")
    for data in img.blobs.values():
        push_blob(client, repo, data)
    r = push_manifest(client, repo, "-bad", img.manifest, img.media_type)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]
    r = push_manifest(client, repo, "x" * 129, img.manifest, img.media_type)
    assert r.status_code == 400


# --- content discovery (end-8, end-12) ---------------------------------------------------------
def test_tags_list_and_pagination(client: Client, repo: str) -> None:
    img = image("tags")
    push_image(client, repo, img, "b")
    tags = ["b", "a", "c", "d", "e1", "E"]
    for tag in tags[1:]:
        assert push_manifest(client, repo, tag, img.manifest, img.media_type).status_code == 201
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": repo, "tags": sorted(tags)}
    seen: list[str] = []
    url: str | None = f"/v2/{repo}/tags/list?n=2"
    while url:
        r = client.get(url)
        page = r.json()["tags"]
        assert len(page) <= 2
        seen += page
        link = r.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    assert seen == sorted(tags)
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 2, "last": "b"})
    assert r.json()["tags"] == ["c", "d"]
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 0})
    assert r.json()["tags"] == []


def test_tags_of_unknown_repository(client: Client, repo: str) -> None:
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 404 and error_codes(r) == ["NAME_UNKNOWN"]


def test_catalog_pagination(client: Client, repo: str) -> None:
    names = [f"{repo}/c{i}" for i in range(5)]
    for name in names:
        push_blob(client, name, b"catalog")
    seen: list[str] = []
    url: str | None = "/v2/_catalog?n=2"
    while url:
        r = client.get(url)
        assert r.status_code == 200
        page = r.json()["repositories"]
        assert len(page) <= 2 and page == sorted(page)
        seen += page
        link = r.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    assert [n for n in seen if n.startswith(repo + "/")] == names
    assert seen == sorted(seen)


@pytest.mark.parametrize("path", ["/v2/_catalog", "/v2/{repo}/tags/list"])
def test_page_sizes_a_client_may_send(client: Client, repo: str, path: str) -> None:
    """n=0 is an empty list without a Link; a number too large for any page is a full page
    and a Link to the rest; anything but ASCII digits (a Unicode digit passes isdigit) is 400."""
    img = image("pages")
    push_image(client, repo, img, "a")
    assert push_manifest(client, repo, "b", img.manifest, img.media_type).status_code == 201
    url = path.format(repo=repo)
    key = "repositories" if "catalog" in path else "tags"
    r = client.get(url, params={"n": "0"})
    assert r.status_code == 200 and r.json()[key] == [] and "link" not in r.headers
    everything = client.get(url).json()[key]
    for huge in ["9223372036854775807", "9" * 5000, "0" * 30 + "1" * 30, "1" + "0" * 40]:
        r = client.get(url, params={"n": huge})
        assert r.status_code == 200, r.text
        assert r.json()[key] == everything[:10_000]
    for bad in ["\u00b2", "\u0663", "-1", "+2", "1.5", " 2", "0x10", "\uff11"]:
        r = client.get(url, params={"n": bad})
        assert r.status_code == 400 and error_codes(r) == ["UNSUPPORTED"], (bad, r.text)


def _artifact(client: Client, repo: str, subject: dict[str, object], kind: str) -> str:
    config = push_blob(client, repo, EMPTY_CONFIG)
    payload = f"signature {kind}".encode()
    layer = push_blob(client, repo, payload)
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": kind,
            "config": {"mediaType": EMPTY, "digest": config, "size": 2},
            "layers": [
                {"mediaType": "application/octet-stream", "digest": layer, "size": len(payload)}
            ],
            "subject": subject,
            "annotations": {"org.example.kind": kind},
        }
    ).encode()
    r = push_manifest(client, repo, sha256(raw), raw, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert r.headers["oci-subject"] == subject["digest"]
    return sha256(raw)


def test_referrers(client: Client, repo: str) -> None:
    img = image("subject")
    digest = push_image(client, repo, img, "v1")
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(img.manifest)}
    sig = _artifact(client, repo, subject, "application/vnd.example.sig")
    sbom = _artifact(client, repo, subject, "application/vnd.example.sbom")
    r = client.get(f"/v2/{repo}/referrers/{digest}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(OCI_INDEX)
    doc = r.json()
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == OCI_INDEX
    found = {m["digest"]: m for m in doc["manifests"]}
    assert set(found) == {sig, sbom}
    assert found[sig]["artifactType"] == "application/vnd.example.sig"
    assert found[sig]["annotations"] == {"org.example.kind": "application/vnd.example.sig"}
    assert found[sig]["mediaType"] == OCI_MANIFEST
    r = client.get(
        f"/v2/{repo}/referrers/{digest}", params={"artifactType": "application/vnd.example.sbom"}
    )
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom]
    assert r.headers["oci-filters-applied"] == "artifactType"
    r = client.get(f"/v2/{repo}/referrers/{sha256(b'no referrers')}")
    assert r.status_code == 200 and r.json()["manifests"] == []
    r = client.get(f"/v2/{repo}-unknown/referrers/{digest}")
    assert r.status_code == 200 and r.json()["manifests"] == []
    r = client.get(f"/v2/{repo}/referrers/sha256:bad")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


def test_referrer_pushed_before_its_subject(client: Client, repo: str) -> None:
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(b"later"), "size": 5}
    sig = _artifact(client, repo, subject, "application/vnd.example.early")
    r = client.get(f"/v2/{repo}/referrers/{sha256(b'later')}")
    assert [m["digest"] for m in r.json()["manifests"]] == [sig]


# --- content management (end-9, end-10) --------------------------------------------------------
def test_delete_tag_keeps_manifest(client: Client, repo: str) -> None:
    img = image("deltag")
    digest = push_image(client, repo, img, "v1")
    push_manifest(client, repo, "v2", img.manifest, img.media_type)
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/v2").status_code == 200
    assert client.get(f"/v2/{repo}/manifests/{digest}").status_code == 200
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v2"]


def test_delete_manifest_by_digest(client: Client, repo: str) -> None:
    img = image("delman")
    digest = push_image(client, repo, img, "v1")
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    r = client.get(f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    r = client.delete(f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert client.delete(f"/v2/{repo}/manifests/nope").status_code == 404


def test_delete_blob(client: Client, repo: str) -> None:
    digest = push_blob(client, repo, b"to delete")
    r = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 202
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UNKNOWN"]
    r = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UNKNOWN"]


def test_error_envelope(client: Client, repo: str) -> None:
    r = client.get(f"/v2/{repo}/manifests/missing")
    body = r.json()
    assert set(body) == {"errors"}
    (entry,) = body["errors"]
    assert entry["code"] == "MANIFEST_UNKNOWN" and isinstance(entry["message"], str)
    assert r.headers["content-type"].startswith("application/json")


# --- in-process only: settings and state shared between workers --------------------------------
def test_read_only_mode(tmp_path: Path) -> None:
    config = RegistryConfig(root=tmp_path, log_requests=False)
    with in_process(config) as c:
        digest = push_image(c, "ro/app", image("ro"), "v1")
    config.read_only = True
    with in_process(config) as c:
        pull_complete(c, "ro/app", "v1", ACCEPT_ALL)
        for method, url in [
            ("POST", "/v2/ro/app/blobs/uploads/"),
            ("PUT", "/v2/ro/app/manifests/v2"),
            ("DELETE", f"/v2/ro/app/manifests/{digest}"),
            ("DELETE", f"/v2/ro/app/blobs/{sha256(b'x')}"),
            ("PATCH", f"/v2/ro/app/blobs/uploads/{uuid.uuid4()}"),
        ]:
            r = c.request(method, url, content=b"{}")
            assert r.status_code == 405, (method, url)
            assert error_codes(r) == ["UNSUPPORTED"]


def test_upload_continues_on_another_worker(tmp_path: Path) -> None:
    """Two app instances on one root stand for two workers: no state lives in the process."""
    config = RegistryConfig(root=tmp_path, log_requests=False)
    data = b"x" * 3000 + b"y" * 3000
    with in_process(config) as first, in_process(config) as second:
        r = first.post("/v2/w/blobs/uploads/")
        location = r.headers["location"]
        first.patch(location, content=data[:3000], headers={"Content-Range": "0-2999"})
        r = second.patch(location, content=data[3000:], headers={"Content-Range": "3000-5999"})
        assert r.status_code == 202 and r.headers["range"] == "0-5999"
        assert first.get(location).headers["range"] == "0-5999"
        r = first.put(location, params={"digest": sha256(data)})
        assert r.status_code == 201, r.text
        assert second.get(f"/v2/w/blobs/{sha256(data)}").content == data


def test_concurrent_chunks_on_one_session(tmp_path: Path) -> None:
    """While one request streams a chunk, another on the same session is refused (416), and
    the blob ends up exactly the bytes of the chunk that won."""
    import threading
    import time

    config = RegistryConfig(root=tmp_path, log_requests=False)
    first_data = b"a" * 200_000
    started = threading.Event()

    def slow_body() -> Iterator[bytes]:
        for i in range(0, len(first_data), 20_000):
            if i:
                started.set()
                time.sleep(0.02)
            yield first_data[i : i + 20_000]

    with in_process(config) as one, in_process(config) as two:
        location = one.post("/v2/race/blobs/uploads/").headers["location"]
        results: dict[str, int] = {}
        writer = threading.Thread(
            target=lambda: results.setdefault(
                "slow", one.patch(location, content=slow_body()).status_code
            )
        )
        writer.start()
        assert started.wait(10)
        r = two.patch(location, content=b"b" * 10, headers={"Content-Range": "0-9"})
        writer.join(30)
        assert r.status_code == 416 and error_codes(r) == ["RANGE_INVALID"]
        assert results["slow"] == 202
        r = two.put(location, params={"digest": sha256(first_data)})
        assert r.status_code == 201, r.text
        assert one.get(f"/v2/race/blobs/{sha256(first_data)}").content == first_data


def test_malformed_references(client: Client, repo: str) -> None:
    push_image(client, repo, image("refs"), "v1")
    r = client.get(f"/v2/{repo}/manifests/sha256:abc")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    r = client.get(f"/v2/{repo}/manifests/-notatag")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert client.delete(f"/v2/{repo}/manifests/-notatag").status_code == 404
    r = client.get(f"/v2/{repo}/blobs/sha256:abc")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    r = client.get(f"/v2/{repo}/blobs/md5:{'0' * 32}")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


def test_sha512_blobs_and_manifests(client: Client, repo: str) -> None:
    import hashlib

    data = b"sha512 content" * 100
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    r = client.patch(r.headers["location"], content=data)
    r = client.put(r.headers["location"], params={"digest": digest})
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data
    img = image("512")
    for blob in img.blobs.values():
        push_blob(client, repo, blob)
    reference = "sha512:" + hashlib.sha512(img.manifest).hexdigest()
    r = push_manifest(client, repo, reference, img.manifest, img.media_type)
    assert r.status_code == 201 and r.headers["docker-content-digest"] == reference
    assert client.get(f"/v2/{repo}/manifests/{reference}").content == img.manifest


def test_wrong_digest_after_chunks_ends_the_session(client: Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    location = r.headers["location"]
    client.patch(location, content=b"chunk one", headers={"Content-Range": "0-8"})
    r = client.put(location, params={"digest": sha256(b"something else")})
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    assert client.get(location).status_code == 404
    assert client.head(f"/v2/{repo}/blobs/{sha256(b'chunk one')}").status_code == 404


def test_manifest_is_served_at_the_blob_endpoint(client: Client, repo: str) -> None:
    img = image("asblob")
    digest = push_image(client, repo, img, "v1")
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200 and r.content == img.manifest


def test_internal_errors_use_the_envelope(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from lamina.registry.app import create_app
    from lamina.registry.service import Registry

    registry = Registry(RegistryConfig(root=tmp_path, log_requests=False))
    registry.metadata.close()
    (tmp_path / "registry.db").unlink()
    (tmp_path / "registry.db").mkdir()  # the database is gone: every query fails
    app = create_app(registry.config, registry=registry)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/v2/broken/manifests/latest")
    assert r.status_code == 500 and error_codes(r) == ["UNKNOWN"]
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
