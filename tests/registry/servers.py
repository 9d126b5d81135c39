"""Real registries on loopback for tests: lamina's (``lamina registry serve``) and the CNCF one.

Both listen on 127.0.0.1 on a free port, keep their data in a given directory, and are stopped
(SIGTERM, then SIGKILL if they linger) when the ``with`` block ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

CNCF_REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> float:
    """Poll ``url`` until the server answers anything; return the seconds it took."""
    start = time.monotonic()
    while True:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready:\n{out}")
        try:
            # Readiness only: a TLS server's certificate is checked by the tests themselves.
            context = ssl._create_unverified_context() if url.startswith("https") else None
            with urllib.request.urlopen(url, timeout=1, context=context):
                pass
            return time.monotonic() - start
        except urllib.error.HTTPError:
            return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{url} did not answer within {timeout}s")
        time.sleep(0.02)


class Server:
    """A server process on 127.0.0.1:port, stopped when the ``with`` block ends."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        env: dict[str, str] | None = None,
        tls: bool = False,
    ):
        self.argv = list(argv)
        self.tls = tls
        self.port = port
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self.log_path: Path | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self, log_path: Path | None = None) -> Server:
        self.log_path = log_path
        out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        if log_path:
            out.close()  # type: ignore[union-attr]
        try:
            self.startup_seconds = wait_ready(self.url + "/v2/", self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        self.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def lamina_server(
    root: Path,
    *,
    config: Path | None = None,
    workers: int = 1,
    extra: Sequence[str] = (),
    port: int | None = None,
) -> Server:
    port = port or free_port()
    argv = [sys.executable, "-m", "lamina", "registry", "serve", "--root", str(root)]
    argv += ["--addr", f"127.0.0.1:{port}", "--workers", str(workers)]
    if config is not None:
        argv += ["--config", str(config)]
    argv += list(extra)
    return Server(argv, port, tls="--tls-cert" in extra)


def cncf_server(root: Path, *, port: int | None = None, htpasswd: Path | None = None) -> Server:
    """Debian's ``docker-registry`` (distribution 2.8) with filesystem storage under ``root``."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    auth = ""
    if htpasswd is not None:
        auth = f"auth:\n  htpasswd:\n    realm: cncf\n    path: {htpasswd}\n"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"{auth}"
    )
    return Server([CNCF_REGISTRY, "serve", str(config)], port)
