"""The library's front door: a curated ``lamina`` namespace that is cheap to import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lamina
from lamina.engine.settings import default_root


def test_all_is_exactly_the_public_api() -> None:
    assert sorted(lamina.__all__) == ["Engine", "Settings", "errors"]
    for name in lamina.__all__:
        assert getattr(lamina, name) is not None


def test_engine_is_usable_as_a_library(tmp_path) -> None:
    engine = lamina.Engine(lamina.Settings.from_env(tmp_path))
    assert engine.images() == []
    assert engine.disk_usage().images_total == 0


def test_import_lamina_is_light() -> None:
    code = "import sys, lamina; print(sorted(m for m in sys.modules if m.startswith('lamina')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['lamina', 'lamina.errors']"


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAMINA_ROOT", str(tmp_path))
    assert default_root() == tmp_path
    monkeypatch.delenv("LAMINA_ROOT")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    expected = Path("/var/lib/lamina") if os.geteuid() == 0 else tmp_path / "xdg" / "lamina"
    assert default_root() == expected
