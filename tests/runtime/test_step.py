"""run_step: a build's RUN step over an image's layers, its changes kept in ``upper``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lamina.engine import Engine
from lamina.runtime import run_step

pytestmark = pytest.mark.root


def layers(engine: Engine, image: str) -> list:
    return [layer.chain_id for layer in engine.store.resolve(image).layers]


def test_step_output_status_and_changes(engine: Engine, busybox: str, tmp_path: Path) -> None:
    upper = tmp_path / "steps" / "upper"
    out = tmp_path / "out"
    with out.open("wb") as stream:
        code = run_step(engine.store, layers(engine, busybox), upper,
                        ["sh", "-c", "echo hello $GREETING; pwd; echo x > made; rm /bin/ls; exit 3"],
                        env=["GREETING=world"], workdir="/work", user="root",
                        network="none", stdout=stream, stderr=stream,
                        state_root=engine.settings.state_root)
    assert code == 3
    assert out.read_text() == "hello world\n/work\n"
    assert (upper / "work" / "made").read_text() == "x\n"
    whiteout = os.lstat(upper / "bin" / "ls")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    # Nothing mounted is left, nor anything beside the upper directory but itself.
    assert os.listdir(upper.parent) == ["upper"]
    assert str(upper.parent) not in Path("/proc/self/mountinfo").read_text()


def test_step_user_and_missing_command(engine: Engine, busybox: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with out.open("wb") as stream:
        code = run_step(engine.store, layers(engine, busybox), tmp_path / "u", ["id"],
                        env=[], workdir="/", user="alice", network="none",
                        stdout=stream, stderr=stream, state_root=engine.settings.state_root)
    assert code == 0
    assert out.read_text().startswith("uid=1000(alice) gid=1000(alice)")
    with out.open("wb") as stream:
        code = run_step(engine.store, layers(engine, busybox), tmp_path / "u", ["nosuch"],
                        env=[], workdir="/", user="", stdout=stream, stderr=stream,
                        state_root=engine.settings.state_root)
    assert code == 127
    assert "nosuch" in out.read_text()
