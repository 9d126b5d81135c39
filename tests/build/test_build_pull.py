"""Base images the store lacks are pulled (and, with --pull, always pulled), from a lamina
registry on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from buildhelp import steps, write_files

from cli.conftest import Run
from registry.servers import Server, lamina_server


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("LAMINA_CONFIG", str(tmp_path / "lamina-config.toml"))
    with lamina_server(tmp_path / "registry") as server:
        server.start()
        yield server


def test_from_and_copy_from_pull_missing_images(lamina: Run, busybox: str, registry: Server,
                                                tmp_path: Path) -> None:
    remote = f"{registry.host}/base/busybox:1"
    assert lamina("tag", busybox, remote).code == 0
    pushed = lamina("push", remote)
    assert pushed.code == 0, pushed.err
    assert lamina("rmi", busybox, remote).code == 0
    assert lamina("images", "-q").out.strip() == ""

    ctx = tmp_path / "ctx"
    write_files(ctx, {"f": "f"})
    (ctx / "Dockerfile").write_text(f"FROM {remote}\nCOPY f /f\nCOPY --from={remote} "
                                    "/etc/passwd /copied-passwd\n")
    result = lamina("build", "-t", "pulled", str(ctx))
    assert result.code == 0, result.out + result.err
    assert f"pulling {remote}" in result.out
    assert lamina("inspect", remote).code == 0  # the base is in the store now
    again = lamina("build", "--pull", "-t", "pulled", str(ctx))
    assert again.code == 0, again.err
    assert all(s.startswith("CACHED") for s in steps(again.out)[1:])  # same base: cache hits


def test_from_platform_other_than_the_stored_image_pulls(lamina: Run, busybox: str,
                                                         registry: Server, tmp_path: Path) -> None:
    remote = f"{registry.host}/base/busybox:1"
    assert lamina("tag", busybox, remote).code == 0
    assert lamina("push", remote).code == 0
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM --platform=$BUILDPLATFORM {remote}\nLABEL a=b\n")
    assert lamina("build", str(ctx)).code == 0
    (ctx / "Dockerfile").write_text(f"FROM --platform=linux/s390x {remote}\nLABEL a=b\n")
    result = lamina("build", str(ctx))
    assert result.code == 1  # the registry has no s390x image: asked for, not taken from here
    assert "s390x" in result.err
