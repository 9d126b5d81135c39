"""A real stack: Debian's docker-compose 1.29 (docker-py) through ``lamina system service``,
in a network namespace of the test's own: a busybox httpd with a published port and a named
volume, and a client that fetches from it by its service name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from network.conftest import Net

COMPOSE = shutil.which("docker-compose")
STACK = """\
version: "3.7"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo hello from web > /www/index.html; exec busybox httpd -f -p 80 -h /www"]
    ports: ["18181:80"]
    volumes: ["www:/www"]
  client:
    image: busybox:latest
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do busybox wget -q -O - http://web/ && break; sleep 0.5; done; exec sleep 300"]
    depends_on: [web]
volumes:
  www: {}
"""


@pytest.fixture
def service(net: Net, tmp_path: Path) -> Iterator[Path]:
    if COMPOSE is None:
        pytest.skip("docker-compose is not installed")
    net.ok("tag", "bb", "busybox:latest")
    sock = tmp_path / "api.sock"
    with open(tmp_path / "service.log", "wb") as log:  # (the child keeps its own copy)
        proc = net.ns.popen([sys.executable, "-m", "lamina", "system", "service", "--socket",
                             f"unix://{sock}", "--time", "0"], env=net.env, stdout=log,
                            stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None, (tmp_path / "service.log").read_text()
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def test_compose_stack(net: Net, service: Path, tmp_path: Path) -> None:
    project = tmp_path / "stack"
    project.mkdir()
    (project / "docker-compose.yml").write_text(STACK)
    env = {k: v for k, v in net.env.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=f"unix://{service}", COMPOSE_INTERACTIVE_NO_CLI="1")

    def compose(*argv: str) -> subprocess.CompletedProcess[str]:
        assert COMPOSE is not None
        return subprocess.run([COMPOSE, "-p", "stack", *argv], cwd=project, env=env,
                              capture_output=True, text=True, timeout=180)

    up = compose("up", "-d")
    assert up.returncode == 0, up.stderr
    assert net.wait_http("http://127.0.0.1:18181/") == "hello from web\n"
    ps = compose("ps")
    assert ps.returncode == 0, ps.stderr
    assert "stack_web_1" in ps.stdout and "0.0.0.0:18181->80/tcp" in ps.stdout
    assert "stack_client_1" in ps.stdout
    deadline = time.monotonic() + 20
    while True:
        logs = compose("logs", "client")
        if "hello from web" in logs.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert "hello from web" in logs.stdout, logs.stdout + logs.stderr
    volumes = json.loads(net.ok("volume", "inspect", "stack_www"))
    assert (Path(volumes[0]["Mountpoint"]) / "index.html").read_text() == "hello from web\n"
    down = compose("down", "-v")
    assert down.returncode == 0, down.stderr
    # nothing is left: containers, the network, the volume, links, rules
    assert net.ok("ps", "-aq") == ""
    assert net.ok("volume", "ls", "-q") == ""
    assert "stack_default" not in net.ok("network", "ls")
    assert [link for link in net.links() if link.startswith(("veth", "br-"))] == []
    assert "18181" not in net.nft()
