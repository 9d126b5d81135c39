"""A container's restart policy (``--restart``), carried out by its monitor.

The monitor runs the container again after it ends, as the policy says (``always``,
``unless-stopped``, ``on-failure[:N]``), after docker's growing delay: 100 ms, doubled at each
restart up to a minute, and back to 100 ms once a run lasted 10 s. A deliberate ``stop``,
``kill`` or ``rm -f`` leaves a ``stopping`` marker in the container's directory first, and no
restart follows it. The monitor never opens the store: what ``ps`` and ``inspect`` show of
the restarts (count, current pid, whether it is between runs) is kept in ``restart.json``
beside the marker, and copied into the record when the container's exit is recorded.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # a run this long resets the delay
STATE_FILE = "restart.json"
STOPPING = "stopping"


class RestartState:
    """The policy of one container, and how far its monitor has gone with it."""

    def __init__(self, directory: Path, host_config: dict[str, Any]) -> None:
        policy = host_config.get("RestartPolicy") or {}
        self.name = str(policy.get("Name") or "no")
        self.maximum = int(policy.get("MaximumRetryCount") or 0)
        self.directory = directory
        self.count = 0
        self.delay = FIRST_DELAY
        self.started_at = time.monotonic()
        self.started_wall = time.time()
        self.last_code = 0

    def stopping(self) -> bool:
        return (self.directory / STOPPING).exists()

    def running(self, pid: int) -> None:
        self.started_at = time.monotonic()
        self.started_wall = time.time()
        if self.name != "no":
            self._write(pid=pid, restarting=False)

    def wanted(self, code: int) -> bool:
        """Whether the policy restarts a container that ended with ``code``."""
        self.last_code = code
        changed = read_policy(self.directory)  # (``update --restart`` while it runs)
        if changed is not None:
            self.name = str(changed.get("Name") or "no")
            self.maximum = int(changed.get("MaximumRetryCount") or 0)
        if self.name == "no" or self.stopping():
            return False
        if self.name == "on-failure":
            return code != 0 and (self.maximum == 0 or self.count < self.maximum)
        return True

    def wait(self) -> bool:
        """Sleep the delay before the next run; False if a stop came meanwhile."""
        if time.monotonic() - self.started_at >= RESET_AFTER:
            self.delay = FIRST_DELAY
        self._write(pid=0, restarting=True)
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline:
            if self.stopping():
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        if self.stopping():
            return False
        self.delay = min(self.delay * 2, MAX_DELAY)
        self.count += 1
        return True

    def done(self) -> None:
        if self.name != "no":
            self._write(pid=0, restarting=False)

    def _write(self, *, pid: int, restarting: bool) -> None:
        data = {"RestartCount": self.count, "Pid": pid, "Restarting": restarting,
                "ExitCode": self.last_code, "StartedAt": self.started_wall}
        temp = self.directory / (STATE_FILE + ".tmp")
        temp.write_text(json.dumps(data))
        os.replace(temp, self.directory / STATE_FILE)


def read_state(directory: Path) -> dict[str, Any]:
    """What the monitor last wrote ({} for a container that never restarted)."""
    try:
        data = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


POLICY_FILE = "restart-policy.json"


def change_policy(directory: Path, policy: dict[str, Any]) -> None:
    """A running container's new policy (``update --restart``), for its monitor to follow
    from the next exit on."""
    temp = directory / (POLICY_FILE + ".tmp")
    temp.write_text(json.dumps(policy))
    os.replace(temp, directory / POLICY_FILE)


def read_policy(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / POLICY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def reset(directory: Path) -> None:
    """A deliberate start: no marker of the last stop, the count from zero (docker's), and
    the health of the last run forgotten (``lamina.runtime.health``: starting again)."""
    for name in (STOPPING, STATE_FILE, POLICY_FILE, "health.json"):
        (directory / name).unlink(missing_ok=True)
