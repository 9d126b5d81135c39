"""Fixtures: one service per test module, over a store with busybox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.service import DOCKER, Service
from helpers.busybox import needs_containers


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    needs_containers()
    tmp = tmp_path_factory.mktemp("api")
    svc = Service(tmp)
    svc.import_busybox()
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def docker(service: Service) -> Service:
    if DOCKER is None:
        pytest.skip("needs the docker CLI")
    return service
