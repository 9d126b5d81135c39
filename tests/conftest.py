"""Fixtures for every test directory: real registries on loopback, one of each per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from registry.servers import CNCF_REGISTRY, Server, cncf_server, lamina_server

# No per-example deadline: a timing is never a test, and on a loaded machine the first example
# of a run can take hundreds of milliseconds for reasons of its own (imports, caches).
settings.register_profile("lamina", deadline=None)
settings.load_profile("lamina")


def pytest_configure(config: pytest.Config) -> None:
    """The whole session runs in a network namespace of its own (the workers too: they are
    started after this, from this process), so that containers on lamina's default bridge
    never add a link, route or nftables rule to the machine's own namespace. Loopback servers
    work as before."""
    from helpers.netns import private_network

    if "PYTEST_XDIST_WORKER" not in os.environ:
        private_network()


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
