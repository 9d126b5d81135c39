"""The library's front door: a curated ``lamina`` namespace that is cheap to import."""

from __future__ import annotations

import subprocess
import sys

import lamina


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
