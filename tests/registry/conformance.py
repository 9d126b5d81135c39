"""Shared by the registry core tests: the two targets (in-process app, uvicorn on loopback)
and a tiny push/pull client written against the spec, so the tests read like the spec."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
from starlette.testclient import TestClient

from lamina.registry.app import create_app
from lamina.registry.config import RegistryConfig

from .servers import Server, free_port


class Client(Protocol):
    def request(self, method: str, url: str, **kw: Any) -> httpx.Response: ...
    def get(self, url: str, **kw: Any) -> httpx.Response: ...
    def head(self, url: str, **kw: Any) -> httpx.Response: ...
    def post(self, url: str, **kw: Any) -> httpx.Response: ...
    def put(self, url: str, **kw: Any) -> httpx.Response: ...
    def patch(self, url: str, **kw: Any) -> httpx.Response: ...
    def delete(self, url: str, **kw: Any) -> httpx.Response: ...


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@contextmanager
def in_process(config: RegistryConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config)) as client:
        yield client


@contextmanager
def uvicorn_process(config: RegistryConfig, *, workers: int = 1) -> Iterator[Server]:
    """``python -m uvicorn --factory`` on 127.0.0.1:<free port>, the registry's real stack."""
    from lamina.registry.serve import CONFIG_ENV, config_to_json

    port = free_port()
    config.addr = f"127.0.0.1:{port}"
    env = dict(os.environ, **{CONFIG_ENV: config_to_json(config)})
    env["PYTHONPATH"] = str(Path(__file__).parents[2] / "src")
    argv = [
        sys.executable, "-m", "uvicorn", "--factory", "lamina.registry.serve:app_factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with Server(argv, port, env=env).start() as server:
        yield server


def http_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, verify=False, trust_env=False)


@contextmanager
def uvicorn_server(config: RegistryConfig, *, workers: int = 1) -> Iterator[httpx.Client]:
    with uvicorn_process(config, workers=workers) as server, http_client(server.url) as client:
        yield client


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def push_blob(client: Client, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    # Keep the query the registry put in its Location (distribution's _state).
    separator = "&" if "?" in location else "?"
    r = client.put(f"{location}{separator}digest={digest}", content=data)
    assert r.status_code == 201, r.text
    return digest


def push_manifest(
    client: Client, repo: str, reference: str, raw: bytes, media_type: str
) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{reference}", content=raw, headers={"Content-Type": media_type}
    )


def push_image(client: Client, repo: str, image: Any, tag: str | None = None) -> str:
    """Push a helpers.images BuiltImage (or BuiltIndex with its children); its digest."""
    from helpers.images import BuiltImage, BuiltIndex

    if isinstance(image, BuiltIndex):
        manifests = {
            d: b for d, b in image.blobs.items() if b"schemaVersion" in b and b"mediaType" in b
        }
        for digest, data in image.blobs.items():
            if digest not in manifests:
                push_blob(client, repo, data)
        for digest, data in manifests.items():
            media_type = json.loads(data)["mediaType"]
            assert push_manifest(client, repo, digest, data, media_type).status_code == 201
        r = push_manifest(client, repo, tag or image.digest, image.index, image.media_type)
        assert r.status_code == 201, r.text
        return image.digest
    assert isinstance(image, BuiltImage)
    for data in image.blobs.values():
        push_blob(client, repo, data)
    r = push_manifest(client, repo, tag or image.manifest_digest, image.manifest, image.media_type)
    assert r.status_code == 201, r.text
    return image.manifest_digest


def pull_complete(client: Client, repo: str, reference: str, accept: Mapping[str, str]) -> None:
    """Fetch a manifest and everything below it, checking every digest."""
    r = client.get(f"/v2/{repo}/manifests/{reference}", headers=dict(accept))
    assert r.status_code == 200, (reference, r.text)
    assert sha256(r.content) == r.headers["docker-content-digest"]
    doc = json.loads(r.content)
    for child in doc.get("manifests", []):
        pull_complete(client, repo, child["digest"], accept)
    for desc in [doc["config"], *doc["layers"]] if "config" in doc else []:
        b = client.get(f"/v2/{repo}/blobs/{desc['digest']}")
        assert b.status_code == 200, (desc["digest"], b.text)
        assert sha256(b.content) == desc["digest"] and len(b.content) == desc["size"]


ACCEPT_ALL = {
    "Accept": ", ".join(
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
    )
}

__all__ = [
    "ACCEPT_ALL",
    "Client",
    "error_codes",
    "http_client",
    "in_process",
    "pull_complete",
    "push_blob",
    "push_image",
    "push_manifest",
    "sha256",
    "uvicorn_process",
    "uvicorn_server",
]
