"""Fixtures for every test directory: real registries on loopback, one of each per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from registry.servers import CNCF_REGISTRY, Server, cncf_server, lamina_server

# No per-example deadline: a timing is never a test, and on a loaded machine the first example
# of a run can take hundreds of milliseconds for reasons of its own (imports, caches).
settings.register_profile("lamina", deadline=None)
settings.load_profile("lamina")


@pytest.fixture(scope="module")
def cncf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The CNCF registry (Debian's docker-registry); its output kept in server.log beside it."""
    if not Path(CNCF_REGISTRY).exists():
        pytest.skip("needs docker-registry (the CNCF registry)")
    tmp = tmp_path_factory.mktemp("cncf")
    with cncf_server(tmp / "root") as server:
        server.start(tmp / "server.log")
        yield server


@pytest.fixture(scope="module")
def lamina_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``lamina registry serve``, open; its output kept in server.log beside it."""
    tmp = tmp_path_factory.mktemp("lamina-registry")
    with lamina_server(tmp / "root") as server:
        server.start(tmp / "server.log")
        yield server
