"""``lamina run``'s quick path stays quick: a common command line whose image is in the store
runs without click, dataclasses or inspect ever being imported (they cost every run tens of
milliseconds), settings and the runtime's recorder included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.busybox import busybox_tar, needs_containers

HEAVY = ("click", "dataclasses", "inspect", "httpx", "tomllib")


def test_run_imports_nothing_heavy(tmp_path: Path) -> None:
    needs_containers()
    # (without a network: on a bridge, the child that makes the container's namespace loads
    # pyroute2, which brings asyncio; bench/network.py measures that path)
    env = {"LAMINA_ROOT": str(tmp_path / "store"), "PATH": os.environ["PATH"],
           "LAMINA_CONFIG": str(tmp_path / "none.toml")}
    code = "import sys; from lamina.cli.main import main; main()"
    tar = tmp_path / "busybox.tar"
    tar.write_bytes(busybox_tar())
    subprocess.run([sys.executable, "-c", code, "import", str(tar), "busybox"], env=env,
                   check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code, "run", "--rm",
                           "--network", "none", "busybox", "echo", "quick"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "quick\n"), done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "lamina.engine.settings" in imported  # (the check sees lamina's own imports)
    assert not {name for name in imported if name.split(".")[0] in HEAVY}
