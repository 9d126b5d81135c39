"""Many lamina processes on one store at once, some killed with SIGKILL at random moments.

Sixteen workers keep starting commands for a bounded time (``LAMINA_STRESS_SECONDS``, 60 by
default, two thirds of it with every command left to finish, one third with a quarter of them
killed at a random moment): ``pull`` of images that share layers from a registry on loopback,
``rmi``, ``image prune -a -f``, ``load``, ``run --rm`` and ``images``. Every command must
succeed, but ``rmi``, which may fail with one line that is a legitimate answer to the state the
others left (the image is gone, or in use); none may fail because of another process's work in
progress, and none may print a traceback. Afterwards the store must be sound: every blob matches its digest, every image's
layers and snapshots are there, SQLite's ``integrity_check`` says ok, and nothing is left in
``tmp/`` once no lamina process is alive.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from helpers.busybox import busybox_tar, needs_containers
from helpers.images import File, make_docker_legacy_archive, make_image, write_oci_layout
from registry.servers import Server
from store.test_crash import check_store

from .conftest import mounts_under

pytestmark = [pytest.mark.slow, pytest.mark.peer]

WORKERS = 16
SECONDS = float(os.environ.get("LAMINA_STRESS_SECONDS", "60"))

# What ``rmi`` may legitimately answer when another process changed the store under it (the
# image is gone, or a container uses it, or a command is about to). Every other command of the
# mix must succeed: each holds the image it uses from the moment it finds or pulls it
# (``lamina.store.holds``), so no other process's rmi or prune can fail it half-way.
LEGITIMATE = [re.compile(p) for p in (
    r"Error response from daemon: No such image: .*",
    r"Error: No such image: .*",
    r"Error response from daemon: conflict: unable to (delete|remove) .*",
    r"Error: conflict: unable to (delete|remove) .*",
)]


def images_sharing_layers(rng: random.Random) -> list[list[Any]]:
    """Three images over four layers: base, base+mid, base+mid+top, base+other."""
    base = {"base/data": File(rng.randbytes(600_000))}
    mid = {"mid/data": File(rng.randbytes(400_000))}
    top = {"top/data": File(rng.randbytes(200_000))}
    other = {"other/data": File(rng.randbytes(300_000))}
    return [[base], [base, mid], [base, mid, top], [base, other]]


def push(tmp: Path, registry: Server, layers: list[Any], name: str,
         config: dict[str, object] | None = None) -> dict[str, bytes]:
    """Push an image of ``layers``; return its blobs by digest."""
    image = make_image(layers, config)
    layout = write_oci_layout(tmp / f"layout-{name.replace('/', '-').replace(':', '-')}",
                              [(image, "t")])
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                    f"oci:{layout}:t", f"docker://{registry.host}/{name}"],
                   check=True, capture_output=True)
    return image.blobs


def settle_partials(root: Path, blobs: dict[str, bytes]) -> int:
    """A pull killed while downloading leaves its partial blob for the next pull to resume
    (``lamina.store.partial``). Each must be free (its maker is dead: no live process holds
    it) and hold the first bytes of the blob it names; it is then removed. Returns how many."""
    settled = 0
    for path in sorted((root / "tmp").glob("partial-*")):
        _, algorithm, hex_ = path.name.split("-", 2)
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            data = path.read_bytes()
        finally:
            os.close(fd)
        assert blobs[f"{algorithm}:{hex_}"].startswith(data), path.name
        path.unlink()
        settled += 1
    return settled


class Mix:
    """The workers' commands, what they answered, and which were killed."""

    def __init__(self, root: Path, registry: Server, archive: Path, kill: bool,
                 seed: int) -> None:
        self.env = {**os.environ, "LAMINA_ROOT": str(root),
                    "LAMINA_CONFIG": str(root.parent / "no-config.toml"),
                    "DOCKER_CONFIG": str(root.parent / "docker-config")}
        self.host = registry.host
        self.archive = archive
        self.kill = kill
        self.seed = seed
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.bad: list[str] = []

    def argv(self, rng: random.Random) -> list[str]:
        names = [f"{self.host}/stress/img{i}:1" for i in range(4)]
        run_image = f"{self.host}/stress/run:1"
        verb = rng.choices(["pull", "rmi", "prune", "load", "run", "images"],
                           weights=[6, 3, 1, 2, 2, 3])[0]
        if verb == "pull":
            return ["pull", "-q", rng.choice([*names, run_image])]
        if verb == "rmi":
            return ["rmi", *rng.sample(names, rng.randint(1, 2))]
        if verb == "prune":
            return ["image", "prune", "-a", "-f"]
        if verb == "load":
            return ["load", "-q", "-i", str(self.archive)]
        if verb == "run":
            return ["run", "--rm", "--network", "none", run_image, "echo", "hello"]
        return ["images"]

    def one(self, rng: random.Random) -> None:
        argv = self.argv(rng)
        proc = subprocess.Popen([sys.executable, "-m", "lamina", *argv], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        killed = False
        if self.kill and rng.random() < 0.25:
            try:
                proc.wait(rng.uniform(0.05, 2.0))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                killed = True
        out, err = proc.communicate(timeout=120)
        text = err.decode(errors="replace")
        with self.lock:
            self.counts[argv[0] if argv[0] != "image" else "prune"] += 1
            if killed:
                self.counts["killed"] += 1
                return
            if "Traceback" in text:
                self.bad.append(f"{argv}: traceback:\n{text}")
                return
            if argv[0] == "run" and proc.returncode == 0 and out != b"hello\n":
                self.bad.append(f"{argv}: printed {out!r}")
            if proc.returncode == 0:
                return
            lines = [line for line in text.splitlines() if line]
            # One line per name it could not remove (as docker does).
            if argv[0] != "rmi" or not 1 <= len(lines) <= len(argv) - 1 or not all(
                    any(p.fullmatch(line) for p in LEGITIMATE) for line in lines):
                self.bad.append(f"{argv}: exit {proc.returncode}: {text.strip()}")
            else:
                self.failures.extend(lines)

    def worker(self, index: int, deadline: float) -> None:
        rng = random.Random(self.seed * 100 + index)
        while time.monotonic() < deadline:
            try:
                self.one(rng)
            except BaseException as err:  # reported by the test, with the others
                with self.lock:
                    self.bad.append(f"worker {index}: {err!r}")
                return

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=self.worker, args=(i, deadline))
                   for i in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def lamina(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", *argv], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kill", [False, True], ids=["all-finish", "kill-9"])
def test_sixteen_processes_on_one_store(cncf: Server, tmp_path: Path, kill: bool) -> None:
    needs_containers()
    rng = random.Random(20261207)
    blobs: dict[str, bytes] = {}
    for i, layers in enumerate(images_sharing_layers(rng)):
        blobs.update(push(tmp_path, cncf, layers, f"stress/img{i}:1"))
    # The image ``run`` runs: busybox, one layer.
    blobs.update(push(tmp_path, cncf, [busybox_tar()], "stress/run:1",
                      {"config": {"Cmd": ["sh"]}}))
    # The loaded image shares its base layer with the pulled ones.
    loaded = make_image(images_sharing_layers(random.Random(20261207))[0]
                        + [{"loaded/data": File(rng.randbytes(300_000))}])
    archive = tmp_path / "load.tar"
    archive.write_bytes(make_docker_legacy_archive([(loaded, ["stress/loaded:1"])]))

    root = tmp_path / "store"
    mix = Mix(root, cncf, archive, kill, seed=2 if kill else 1)
    mix.run(SECONDS / 3 if kill else SECONDS * 2 / 3)
    try:
        assert mix.bad == [], "\n".join(mix.bad[:10])
        assert mix.counts["pull"] and mix.counts["run"] and mix.counts["load"]
        if kill:
            assert mix.counts["killed"] > 0
    finally:
        # Containers a killed ``run --rm`` left behind are removed; nothing stays mounted.
        ids = lamina(mix.env, "ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            lamina(mix.env, "rm", "-f", *ids)
    assert mounts_under(root) == []
    with sqlite3.connect(root / "lamina.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    settled = settle_partials(root, blobs)
    check_store(root)
    # The store still does everything after the storm.
    for argv in (["pull", "-q", f"{cncf.host}/stress/img2:1"], ["load", "-q", "-i", str(archive)],
                 ["run", "--rm", "--network", "none", f"{cncf.host}/stress/run:1", "true"]):
        done = lamina(mix.env, *argv)
        assert done.returncode == 0, done.stderr
    print(dict(mix.counts), Counter(mix.failures), f"{settled} partial downloads kept")
