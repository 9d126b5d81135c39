"""Fixtures for driving the ``lamina`` command in-process, on a store of the test's own."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.busybox import busybox_tar, needs_containers
from helpers.images import BuiltImage, make_image, tar_directory, write_oci_layout
from lamina.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def store_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("LAMINA_ROOT", str(root))
    return root


@pytest.fixture
def lamina(store_root: Path, capsysbinary: pytest.CaptureFixture[bytes],
           monkeypatch: pytest.MonkeyPatch) -> Run:
    """``lamina("images", "-q")`` runs the CLI as a user would and returns code, out, err."""
    return in_process(capsysbinary, monkeypatch)


def in_process(capsysbinary: pytest.CaptureFixture[bytes],
               monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI run in this process, as ``main`` is by the ``lamina`` command."""

    def run(*argv: str, stdin: bytes | None = None) -> Result:
        capsysbinary.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsysbinary.readouterr()
        return Result(code, captured.out.decode(), captured.err.decode())

    return run


@pytest.fixture
def load_image(lamina: Run, tmp_path: Path) -> Callable[..., BuiltImage]:
    """Load a generated image into the store under ``tags`` (via an OCI archive and `load`)."""
    counter = iter(range(10_000))

    def load(layers: Sequence[Any] = ({"etc/hello": b"hi\n"},), tags: Sequence[str] = (),
             config: dict[str, Any] | None = None, **kw: Any) -> BuiltImage:
        image = make_image(list(layers), config, **kw)
        n = next(counter)
        archive = tmp_path / f"image-{n}.tar"
        if tags:
            from helpers.images import make_docker_legacy_archive

            archive.write_bytes(make_docker_legacy_archive([(image, list(tags))]))
        else:
            layout = write_oci_layout(tmp_path / f"layout-{n}", [image])
            archive.write_bytes(tar_directory(layout))
        result = lamina("load", "-i", str(archive))
        assert result.code == 0, result.err
        return image

    return load


Image = Callable[..., str]


@pytest.fixture
def image(lamina: Run, tmp_path: Path, store_root: Path) -> Iterator[Image]:
    """``image("name", "-c", "ENV A=1", extra={...}, symlinks={...})``: import a busybox image.

    Every container is removed at the end, and nothing may stay mounted."""
    needs_containers()
    counter = iter(range(1000))

    def make(tag: str = "busybox", *changes: str, extra: dict[str, bytes] | None = None,
             symlinks: dict[str, str] | None = None) -> str:
        path = tmp_path / f"rootfs-{next(counter)}.tar"
        path.write_bytes(busybox_tar(extra, symlinks))
        args = [a for change in changes for a in ("-c", change)]
        result = lamina("import", *args, str(path), tag)
        assert result.code == 0, result.err
        return result.out.strip()

    yield make
    ids = lamina("ps", "-aq", "--no-trunc").out.split()
    if ids:
        lamina("rm", "-f", *ids)
    assert str(store_root) not in Path("/proc/self/mountinfo").read_text()


def mounts_under(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(path) in line]


def one_line(result: Result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
