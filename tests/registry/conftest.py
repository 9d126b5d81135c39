"""Shared real backends, started once per test process (each xdist worker has its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import PostgresCluster, SeaweedFS


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedFS]:
    with SeaweedFS() as server:
        yield server
