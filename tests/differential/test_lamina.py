"""Every row of the differential table, run with lamina: it must give docker's answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.busybox import needs_containers

from .harness import Lamina, differences, lamina_template
from .table import CASES, Case


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lamina_template(tmp_path_factory.mktemp("template") / "store")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_row(case: Case, template: Path, tmp_path: Path) -> None:
    if case.containers:
        needs_containers()
    tool = Lamina(tmp_path, template)
    tool.reset()
    try:
        got = tool.play(case)
        found = differences(case, got, tmp_path)
        assert not found, f"lamina {' '.join(case.argv)}: " + "; ".join(found)
    finally:
        if case.containers:
            tool.reset()  # nothing left running or mounted
