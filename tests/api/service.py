"""``lamina system service`` as a test drives it: a real process on a unix socket in the
test's directory, over a store of its own with a busybox image; raw HTTP requests to it, and
the docker CLI pointed at it (DOCKER_HOST=unix://...)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from helpers.busybox import busybox_tar

DOCKER = shutil.which("docker")


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.path))
        self.sock = sock


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        return str(self.json()["message"])


class Service:
    """The service over ``tmp/store``; ``wrap`` prefixes its command (a jail)."""

    def __init__(self, tmp: Path, *, wrap: list[str] | None = None) -> None:
        self.tmp = tmp
        self.root = tmp / "store"
        self.sock = tmp / "api.sock"
        self.config = tmp / "docker-config"
        self.config.mkdir(parents=True, exist_ok=True)
        self.wrap = wrap or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "service.log"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "LAMINA_ROOT": str(self.root)}

    @property
    def docker_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        return {**env, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_CONFIG": str(self.config)}

    def lamina(self, *args: str, input: bytes | None = None, check: bool = True
               ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "lamina", *args], input=input,
                              capture_output=True, env=self.env, check=check, timeout=120)

    def import_busybox(self, name: str = "busybox:latest") -> None:
        self.lamina("import", "-", name, input=busybox_tar())

    def start(self) -> Service:
        argv = [*self.wrap, sys.executable, "-m", "lamina", "system", "service",
                "--socket", f"unix://{self.sock}", "--time", "0"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service ended: {self.log.read_text()}")
            try:
                if self.request("GET", "/_ping").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the service did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # containers outlive the service (their monitors are their own): remove them
        listed = self.lamina("ps", "-aq", "--no-trunc", check=False)
        ids = listed.stdout.decode().split()
        if ids:
            self.lamina("rm", "-f", *ids, check=False)

    def request(self, method: str, path: str, body: bytes | dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, timeout: float = 60.0) -> Answer:
        conn = UnixConnection(self.sock, timeout)
        try:
            data = json.dumps(body).encode() if isinstance(body, dict) else body
            hdrs = dict(headers or {})
            if isinstance(body, dict):
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read())
        finally:
            conn.close()

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 120,
               ) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        result = subprocess.run([DOCKER, *args], input=input, capture_output=True,
                                env=self.docker_env, timeout=timeout, check=False)
        return subprocess.CompletedProcess(result.args, result.returncode,
                                           result.stdout.decode(errors="replace"),
                                           result.stderr.decode(errors="replace"))
