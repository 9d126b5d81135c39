"""RemoteOptions' transport seam: the client talks to lamina's registry app in this process,
no socket, no server (starlette's TestClient transport)."""

from __future__ import annotations

import hashlib
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
def in_process(tmp_path: Path) -> Iterator[RemoteOptions]:
    with TestClient(build_app(RegistryConfig(root=tmp_path / "registry"))) as client:
        yield RemoteOptions(retries=1, backoff=0.01, certs_dirs=(),
                            http_transport=client._transport)


def test_push_and_pull_through_the_seam(tmp_path: Path, in_process: RemoteOptions) -> None:
    image = make_image([{"etc/hello": b"hello\n"}, {"bin/tool": b"#!/bin/sh\n"}])
    name = "registry.test:5000/team/app:1"
    with Store(tmp_path / "a") as source:
        load_into(source, tmp_path, image, name)
        [pushed] = push(source, name, in_process)
    with Store(tmp_path / "b") as target:
        [pulled] = pull(target, name, in_process)
        assert pulled.image_id == image.config_digest
        assert pulled.digest == pushed.digest
        assert target.audit() == []
        assert [str(t) for t in target.image(pulled.image_id).tags] == [name]
    # Nothing went over the network: the registry's own files hold what was pushed (objects
    # are named by upload, not by digest, so they are found by their content).
    stored = {"sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (tmp_path / "registry").rglob("*") if p.is_file()}
    assert image.config_digest in stored
