"""/metrics and the access log, through the real registry app in-process."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lamina.registry.auth.htpasswd import set_user
from lamina.registry.config import AuthConfig, RegistryConfig
from lamina.registry.metrics import route_template
from lamina.registry.serve import build_app


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    found = False
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    assert found, f"no sample {name} {labels} in:\n{text}"
    return total


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = RegistryConfig(root=tmp_path / "root")
    with TestClient(build_app(config), base_url="http://127.0.0.1") as c:
        yield c


def push_blob(client: TestClient, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data)
    assert r.status_code == 201, r.text
    return digest


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v2/", "/v2/"),
        ("/v2/_catalog", "/v2/_catalog"),
        ("/v2/a/b/manifests/latest", "/v2/{name}/manifests/{reference}"),
        ("/v2/a/blobs/sha256:abc", "/v2/{name}/blobs/{digest}"),
        ("/v2/a/blobs/uploads/", "/v2/{name}/blobs/uploads/"),
        ("/v2/a/b/blobs/uploads/1234-abcd", "/v2/{name}/blobs/uploads/{uuid}"),
        ("/v2/a/tags/list", "/v2/{name}/tags/list"),
        ("/v2/a/referrers/sha256:abc", "/v2/{name}/referrers/{digest}"),
        ("/token", "/token"),
        ("/metrics", "/metrics"),
        ("/favicon.ico", "other"),
        ("/v2/UPPER/tags/list", "other"),
    ],
)
def test_route_templates(path: str, route: str) -> None:
    assert route_template(path) == route


def test_metrics_count_requests_bytes_and_uploads(client: TestClient) -> None:
    data = b"x" * 1000
    digest = push_blob(client, "team/app", data)
    assert client.get(f"/v2/team/app/blobs/{digest}").content == data
    assert client.get("/v2/team/app/blobs/sha256:" + "0" * 64).status_code == 404
    started = client.post("/v2/team/app/blobs/uploads/")
    assert started.status_code == 202
    text = client.get("/metrics").text
    blob_route = "/v2/{name}/blobs/{digest}"
    assert sample(text, "lamina_registry_http_requests_total", route=blob_route, status="200") == 1
    assert sample(text, "lamina_registry_http_requests_total", route=blob_route, status="404") == 1
    upload_route = "/v2/{name}/blobs/uploads/"
    assert sample(text, "lamina_registry_http_request_bytes_total", route=upload_route) >= 1000
    assert sample(text, "lamina_registry_http_response_bytes_total", route=blob_route) >= 1000
    assert (
        sample(text, "lamina_registry_http_request_duration_seconds_count", route=blob_route) == 2
    )
    assert sample(text, "lamina_registry_upload_sessions") == 1
    client.delete(started.headers["location"])
    assert sample(client.get("/metrics").text, "lamina_registry_upload_sessions") == 0


def test_metrics_content_type(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE lamina_registry_http_requests_total counter" in r.text


def test_access_log_is_one_json_line_without_credentials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    htpasswd = tmp_path / "htpasswd"
    set_user(htpasswd, "alice", "hunter2-secret", rounds=4)
    config = RegistryConfig(
        root=tmp_path / "root", auth=AuthConfig(kind="htpasswd", htpasswd=htpasswd)
    )
    secret = base64.b64encode(b"alice:hunter2-secret").decode()
    with (
        TestClient(build_app(config), base_url="http://127.0.0.1") as client,
        caplog.at_level(logging.INFO, logger="lamina.registry.access"),
    ):
        ok = client.get("/v2/_catalog?n=5", headers={"Authorization": f"Basic {secret}"})
        assert ok.status_code == 200
        assert client.get("/v2/").status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "lamina.registry.access"]
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["method"] == "GET"
    assert first["path"] == "/v2/_catalog"  # no query string
    assert first["route"] == "/v2/_catalog"
    assert first["status"] == 200
    assert first["user"] == "alice"
    assert first["bytes_out"] == len(ok.content)
    assert {"time", "duration_ms", "remote", "bytes_in"} <= set(first)
    assert second["status"] == 401 and second["user"] is None
    for line in lines:
        assert "hunter2" not in line and secret not in line
