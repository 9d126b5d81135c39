"""Fixtures for network tests: each test in a network namespace of its own, with a store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers.busybox import busybox_tar, needs_containers
from helpers.netns import NetNS, needs_netns

LAMINA = str(Path(sys.executable).with_name("lamina"))


class Net:
    """A test's namespace and store: ``lamina(...)``, ``sh(...)`` run inside the namespace."""

    def __init__(self, ns: NetNS, root: Path) -> None:
        self.ns = ns
        self.root = root
        self.env = {**os.environ, "LAMINA_ROOT": str(root)}

    def lamina(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.ns.run([LAMINA, *argv], env=self.env, timeout=timeout)

    def ok(self, *argv: str) -> str:
        done = self.lamina(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        return done.stdout

    def sh(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.ns.run(["sh", "-c", script], env=self.env, timeout=timeout)

    def links(self) -> list[str]:
        out = self.sh("ip -o link show").stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def nft(self) -> str:
        return self.sh("nft list ruleset").stdout

    def wait_http(self, url: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            done = self.sh(f"curl -s --max-time 2 {url}")
            if done.returncode == 0 and done.stdout:
                return done.stdout
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer: {done.stderr}")
            time.sleep(0.1)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    needs_containers()
    needs_netns()
    ns = NetNS()
    env = Net(ns, tmp_path / "store")
    try:
        tar = tmp_path / "bb.tar"
        tar.write_bytes(busybox_tar())
        env.ok("import", "-c", "EXPOSE 80", str(tar), "bb")
        yield env
    finally:
        try:
            ids = env.lamina("ps", "-aq").stdout.split()
            if ids:
                env.lamina("rm", "-f", *ids)
            env.lamina("network", "prune", "-f")
        finally:
            ns.delete()
            env.ns.delete()  # (a test that "restarts the machine" has a new one)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(tmp_path) not in mounts


Lamina = Callable[..., subprocess.CompletedProcess[str]]
