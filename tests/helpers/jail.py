"""Run a command on hostile input in a jail: a private mount namespace in which the host's
whole filesystem is read-only but for the directories the test names.

Pure stdlib; imports nothing from lamina. Needs root and util-linux's ``unshare`` (the test
is skipped otherwise): an extractor or copier that went wrong could then damage nothing but
the test's own directories.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def needs_jail() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("the jail needs root and unshare")


def jailed(argv: Sequence[str], writable: Sequence[Path], *, env: dict[str, str] | None = None,
           timeout: float = 300, preexec_fn: Callable[[], None] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    """``argv`` run where every filesystem is read-only but ``writable`` (and /proc, /sys,
    /dev, which the kernel guards itself)."""
    needs_jail()
    script = ("for m in $(awk '{print $2}' /proc/self/mounts); do case $m in "
              "/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;; "
              "*) mount -o remount,bind,ro \"$m\" 2>/dev/null ;; esac; done; ")
    for path in writable:
        quoted = shlex.quote(str(path))
        script += f"mount --bind {quoted} {quoted} && mount -o remount,bind,rw {quoted} && "
    script += 'exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "jail", *argv],
        env={**(env or os.environ), "PYTHONDONTWRITEBYTECODE": "1"}, capture_output=True,
        text=True, timeout=timeout, preexec_fn=preexec_fn)
