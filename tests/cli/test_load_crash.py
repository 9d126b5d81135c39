"""kill -9 a `lamina load` at random points: the store stays sound and the load can be redone."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.images import make_docker_legacy_archive, make_image
from store.test_crash import check_store

KILLS = 15


@pytest.mark.slow
def test_kill_load_at_random_points(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    # Several layers of incompressible data, so a load takes long enough to be caught mid-way.
    layers = [{f"data/{i}": rng.randbytes(3 << 20)} for i in range(4)]
    image = make_image(layers, compression="gzip")
    archive = tmp_path / "big.tar"
    archive.write_bytes(make_docker_legacy_archive([(image, ["crash/test:1"])]))
    root = tmp_path / "store"
    env = {**os.environ, "LAMINA_ROOT": str(root)}
    cmd = [sys.executable, "-m", "lamina", "load", "-i", str(archive)]

    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    full = time.monotonic() - started
    subprocess.run([sys.executable, "-m", "lamina", "rmi", "crash/test:1"], env=env, check=True,
                   capture_output=True)

    killed = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, max(0.1, full)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        check_store(root)
        # Whatever state it was left in, every command still works.
        listed = subprocess.run([sys.executable, "-m", "lamina", "images", "-q"], env=env,
                                capture_output=True, text=True)
        assert listed.returncode == 0, listed.stderr
        # A kill between recording the image and tagging it leaves it untagged: remove by ID.
        if listed.stdout.strip():
            subprocess.run([sys.executable, "-m", "lamina", "rmi", "-f", *listed.stdout.split()],
                           env=env, check=True, capture_output=True)
    assert killed > 0, "no load was interrupted: the archive is too small to test anything"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "Loaded image: crash/test:1\n", done.stderr
    inspect = subprocess.run([sys.executable, "-m", "lamina", "inspect", "-f", "{{.Id}}",
                              "crash/test:1"], env=env, capture_output=True, text=True)
    assert inspect.stdout.strip() == image.config_digest
    check_store(root)
