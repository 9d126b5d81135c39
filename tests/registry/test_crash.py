"""``kill -9`` at any moment leaves a registry that works: every push the server acknowledged
pulls complete after a restart, new pushes work, and GC clears the debris."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from helpers.images import make_image
from lamina.registry.config import RegistryConfig
from lamina.registry.gc import run_gc

from .conformance import ACCEPT_ALL, http_client, pull_complete, push_image, uvicorn_process


@pytest.mark.slow
@pytest.mark.parametrize("delay", [1.0, 1.7])
def test_kill_9_during_pushes(tmp_path: Path, delay: float) -> None:
    config = RegistryConfig(root=tmp_path, gc_grace_seconds=0, log_requests=False)
    acknowledged: dict[str, str] = {}
    stop, first = threading.Event(), threading.Event()

    def pusher(url: str) -> None:
        with http_client(url) as client:
            i = 0
            while not stop.is_set():
                image = make_image([{f"f{i}": os.urandom(300_000)}, {"base": b"b" * 1000}])
                try:
                    push_image(client, "crash/app", image, f"t{i}")
                except (httpx.HTTPError, AssertionError):
                    return  # the server died under us
                acknowledged[f"t{i}"] = image.manifest_digest
                first.set()
                i += 1

    with uvicorn_process(config) as server:
        thread = threading.Thread(target=pusher, args=(server.url,))
        thread.start()
        # The kill lands ``delay`` seconds into a run of pushes, counted from the first one
        # acknowledged (a loaded machine may take a while to serve it).
        assert first.wait(120), "no push was acknowledged"
        time.sleep(delay)
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        stop.set()
        thread.join(30)
    assert acknowledged

    with uvicorn_process(config) as server, http_client(server.url) as client:
        for tag in acknowledged:
            pull_complete(client, "crash/app", tag, ACCEPT_ALL)
        push_image(client, "crash/app", make_image([{"after": b"restart"}]), "after")
        report = run_gc(config)
        assert report.manifests == []  # every manifest is tagged
        for tag in [*acknowledged, "after"]:
            pull_complete(client, "crash/app", tag, ACCEPT_ALL)
