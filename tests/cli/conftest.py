"""Fixtures for driving the ``lamina`` command in-process, on a store of the test's own."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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

    def run(*argv: str, stdin: bytes | None = None) -> Result:
        capsysbinary.readouterr()
        if stdin is not None:
            fake = io.TextIOWrapper(io.BytesIO(stdin))
            monkeypatch.setattr(sys, "stdin", fake)
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
