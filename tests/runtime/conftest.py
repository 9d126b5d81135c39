"""A store with a one-layer busybox image (Debian's busybox-static), for real containers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.busybox import busybox_tar, needs_containers
from lamina.engine import Engine, Settings


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    needs_containers()
    engine = Engine(Settings(root=tmp_path / "store"))
    yield engine
    for record in engine.store.containers.all():
        engine.remove_container(record.id, force=True)
    engine.store.close()


@pytest.fixture
def busybox(engine: Engine) -> str:
    """The ID of a busybox image tagged ``busybox:latest`` in the engine's store."""
    return engine.import_(io.BytesIO(busybox_tar()), "busybox")
