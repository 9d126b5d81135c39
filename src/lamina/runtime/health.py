"""Health checks (``--health-cmd`` and the image's ``HEALTHCHECK``), run by the monitor.

A thread of the monitor runs the check in the container (``runc exec``, with the container's
own process spec) every interval, as docker does: ``starting`` until the first success,
``healthy`` after a success, ``unhealthy`` after ``retries`` failures in a row (and once the
container has ended); failures within the start period do not count. Each result (start, end, exit code, first 4 KiB of output; the
last five kept) and the status go to ``health.json`` in the container's directory, which
``ps`` (``(healthy)``), ``inspect`` (``.State.Health``) and ``--filter health=`` read.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamina.runtime.bundle import ContainerDir
from lamina.runtime.oci import Runtime
from lamina.store import ContainerRecord

STATE_FILE = "health.json"
SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_RETRIES = 3
DEFAULT_START_INTERVAL = 5 * SECOND
MAX_OUTPUT = 4096
KEPT = 5


def check_argv(check: dict[str, Any] | None) -> list[str] | None:
    """The command a Healthcheck runs; None when there is none (or it is ``NONE``)."""
    test = (check or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", str(test[1])] if len(test) > 1 else None
    if test[0] == "CMD":
        return [str(a) for a in test[1:]] or None
    return None


class HealthChecker(threading.Thread):
    def __init__(self, cdir: ContainerDir, runtime: Runtime, container_id: str,
                 argv: list[str], check: dict[str, Any],
                 changed: Callable[[str], None] | None = None,
                 after_probe: Callable[[], None] | None = None) -> None:
        super().__init__(daemon=True, name="health")
        self.changed = changed  # told each new status (an event)
        self.after_probe = after_probe  # (the monitor reaps what a probe left behind)
        self.cdir = cdir
        self.runtime = runtime
        self.container_id = container_id
        self.argv = argv
        self.interval = (check.get("Interval") or DEFAULT_INTERVAL) / SECOND
        self.timeout = (check.get("Timeout") or DEFAULT_TIMEOUT) / SECOND
        self.retries = check.get("Retries") or DEFAULT_RETRIES
        self.start_period = (check.get("StartPeriod") or 0) / SECOND
        self.start_interval = (check.get("StartInterval") or DEFAULT_START_INTERVAL) / SECOND
        self.stopped = threading.Event()
        self.init_pid = 0  # the container's init: a check that fails as it ends is no result
        self.state: dict[str, Any] = {"Status": "starting", "FailingStreak": 0, "Log": []}

    @classmethod
    def start_for(cls, cdir: ContainerDir, record: ContainerRecord, runtime: Runtime,
                  changed: Callable[[str], None] | None = None,
                  after_probe: Callable[[], None] | None = None,
                  init_pid: int = 0) -> HealthChecker | None:
        check = record.config.get("Config", {}).get("Healthcheck")
        argv = check_argv(check)
        if argv is None or check is None:
            return None
        checker = cls(cdir, runtime, record.id, argv, check, changed, after_probe)
        checker.init_pid = init_pid
        checker._write()
        checker.start()
        return checker

    def stop(self) -> None:
        """The container ended: no more checks, and (docker's rule, kept for compatibility)
        its health is unhealthy from now on, until it starts again."""
        self.stopped.set()
        self.join(timeout=self.timeout + 2)
        self.state["Status"] = "unhealthy"
        self._write()

    def run(self) -> None:
        began = time.monotonic()
        while True:
            in_start = time.monotonic() - began < self.start_period
            # docker 25+: during the start period, checks come at the start interval
            wait = min(self.interval, self.start_interval) if in_start else self.interval
            if self.stopped.wait(wait):
                return
            result = self._probe()
            if self.after_probe is not None:
                self.after_probe()
            if self.stopped.is_set() or (result["ExitCode"] != 0 and not self._running()):
                return  # the container ended meanwhile: its result means nothing
            self._record(result, time.monotonic() - began < self.start_period)

    def _running(self) -> bool:
        if not self.init_pid:
            return True
        try:
            with open(f"/proc/{self.init_pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return False
        return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")

    def _probe(self) -> dict[str, Any]:
        import tempfile

        from lamina.runtime.logs import timestamp

        start = timestamp()
        spec = json.loads((self.cdir.path / "config.json").read_text())
        process = dict(spec["process"], args=self.argv, terminal=False)
        with tempfile.NamedTemporaryFile("w", dir=self.cdir.path, prefix="health-",
                                         suffix=".json") as f:
            json.dump(process, f)
            f.flush()
            argv = self.runtime.command("exec", "--process", f.name, self.container_id)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            try:
                output, _ = proc.communicate(timeout=self.timeout)
                code = proc.returncode
                text = output[:MAX_OUTPUT].decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                proc.terminate()  # runc passes it on to the check
                try:
                    proc.communicate(timeout=2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                code = -1
                text = f"Health check exceeded timeout ({_seconds(self.timeout)})"
        return {"Start": start, "End": timestamp(), "ExitCode": code, "Output": text}

    def _record(self, result: dict[str, Any], in_start_period: bool) -> None:
        state = self.state
        before = state["Status"]
        state["Log"] = [*state["Log"], result][-KEPT:]
        if result["ExitCode"] == 0:
            state["Status"] = "healthy"
            state["FailingStreak"] = 0
        elif not in_start_period or state["Status"] != "starting":
            state["FailingStreak"] += 1
            if state["FailingStreak"] >= self.retries:
                state["Status"] = "unhealthy"
        self._write()
        if state["Status"] != before and self.changed is not None:
            self.changed(state["Status"])

    def _write(self) -> None:
        path = self.cdir.path / STATE_FILE
        temp = path.with_name(STATE_FILE + ".tmp")
        temp.write_text(json.dumps(self.state))
        os.replace(temp, path)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def read_health(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
