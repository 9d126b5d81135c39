"""``lamina generate systemd``: the unit's commands, run as systemd would run them, start the
container, watch its monitor through its restarts, and stop it; systemd-analyze accepts the
unit."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line, wait_for


def inspect(lamina: Run, name: str, template: str) -> str:
    result = lamina("inspect", "-f", template, name)
    assert result.code == 0, result.err
    return result.out.strip()

pytestmark = pytest.mark.root


def test_unit_starts_watches_and_stops(lamina: Run, image: Image, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    image()
    script = 'trap "exit 7" TERM; echo up; while :; do sleep 0.1; done'
    assert lamina("create", "--name", "svc", "--restart", "always", "--stop-timeout", "5",
                  "busybox", "sh", "-c", script).code == 0
    monkeypatch.chdir(tmp_path)
    result = lamina("generate", "systemd", "--name", "--files", "svc")
    assert result.code == 0, result.err
    unit = tmp_path / "container-svc.service"
    assert result.out == f"{unit}\n"
    text = unit.read_text()
    assert lamina("generate", "systemd", "-n", "svc").out == text
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert lines["Restart"] == "no" and lines["TimeoutStopSec"] == "65"
    assert lines["ExecStop"].endswith(" stop -t 5 svc")
    assert lines["Type"] == "forking" and lines["PIDFile"].endswith("/monitor.pid")
    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stderr
    # As systemd runs them: the start (it forks), then the main process is the PIDFile's
    # (the monitor), which lasts as long as the container; the stop ends it.
    subprocess.run(shlex.split(lines["ExecStart"]), check=True, capture_output=True)
    wait_for(lambda: "up" in lamina("logs", "svc").out)
    main = int(Path(lines["PIDFile"]).read_text())
    assert Path(f"/proc/{main}").exists()
    assert lamina("ps", "--format", "{{.Names}}").out == "svc\n"
    subprocess.run(shlex.split(lines["ExecStop"]), check=True, capture_output=True)

    def ended() -> bool:
        try:
            return Path(f"/proc/{main}/stat").read_text().split()[2] == "Z"
        except OSError:
            return True

    wait_for(ended)
    assert inspect(lamina, "svc", "{{.State.ExitCode}}") == "7"
    assert lamina("ps", "-q").out == ""  # the restart policy did not bring it back
    result = lamina("generate", "systemd", "--restart-policy", "sometimes", "svc")
    assert result.code == 1 and "sometimes is not a valid restart policy" in one_line(result)
    assert lamina("generate", "systemd", "nosuch").code == 1
