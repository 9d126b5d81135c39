"""``lamina generate systemd``: the unit's commands, run as systemd would run them, start the
container, wait for it through its restarts, and stop it; systemd-analyze accepts the unit."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line, wait_for

pytestmark = pytest.mark.root


def test_unit_starts_waits_and_stops(lamina: Run, image: Image, tmp_path: Path,
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
    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stderr
    # As systemd runs them: the pre-start, the main process, and (later) the stop.
    subprocess.run(shlex.split(lines["ExecStartPre"]), check=True, capture_output=True)
    main = subprocess.Popen(shlex.split(lines["ExecStart"]), stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "up" in lamina("logs", "svc").out)
        assert lamina("ps", "--format", "{{.Names}}").out == "svc\n"
        assert main.poll() is None  # the main process lasts as long as the container
        subprocess.run(shlex.split(lines["ExecStop"]), check=True, capture_output=True)
        assert main.wait(timeout=30) == 0  # (docker wait prints the code)
        assert main.stdout is not None and main.stdout.read() == "7\n"
    finally:
        if main.poll() is None:
            main.kill()
            main.wait()
    assert lamina("ps", "-q").out == ""  # the restart policy did not bring it back
    result = lamina("generate", "systemd", "--restart-policy", "sometimes", "svc")
    assert result.code == 1 and "sometimes is not a valid restart policy" in one_line(result)
    assert lamina("generate", "systemd", "nosuch").code == 1
