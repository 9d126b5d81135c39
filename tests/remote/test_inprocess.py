"""RemoteOptions' transport seam: the client talks to lamina's registry app in this process,
no socket, no server (starlette's TestClient transport)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from helpers.images import make_image
from lamina.engine.pull import pull
from lamina.engine.push import push
from lamina.registry.config import RegistryConfig
from lamina.registry.serve import build_app
from lamina.remote.options import RemoteOptions
from lamina.store import Store

from .test_push import load_into


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(build_app(RegistryConfig(root=tmp_path / "registry"))) as client:
        yield client


def test_push_and_pull_through_the_seam(tmp_path: Path, registry: TestClient) -> None:
    in_process = RemoteOptions(retries=1, backoff=0.01, certs_dirs=(),
                               http_transport=registry._transport)
    image = make_image([{"etc/hello": b"hello\n"}, {"bin/tool": b"#!/bin/sh\n"}])
    # A name no resolver knows (.invalid): only the seam can reach this registry.
    name = "registry.invalid:5000/team/app:1"
    with Store(tmp_path / "a") as source:
        load_into(source, tmp_path, image, name)
        [pushed] = push(source, name, in_process)
    with Store(tmp_path / "b") as target:
        [pulled] = pull(target, name, in_process)
        assert pulled.image_id == image.config_digest
        assert pulled.digest == pushed.digest
        assert target.audit() == []
        assert [str(t) for t in target.image(pulled.image_id).tags] == [name]
    # The app in this process holds what was pushed.
    assert registry.head(f"/v2/team/app/blobs/{image.config_digest}").status_code == 200
    assert registry.get("/v2/team/app/tags/list").json()["tags"] == ["1"]
