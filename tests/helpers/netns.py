"""Network namespaces for tests: nothing a test does to networks touches the machine's own.

``private_network()`` moves the test session into a network namespace of its own (with only
``lo``), so that containers started by any test, on lamina's default bridge, make their bridge,
veths and nftables table there. ``NetNS`` is a namespace of one test's own, where lamina and
its peers run through ``nsenter``; it is deleted when the test ends, even when it fails.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

CLONE_NEWNET = 0x40000000


def private_network() -> bool:
    """Unshare this process's network namespace (lo up); False when it cannot (not root)."""
    if os.geteuid() != 0 or os.environ.get("LAMINA_TEST_NETNS") == str(os.getpid()):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    os.environ["LAMINA_TEST_NETNS"] = str(os.getpid())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return True


class NetNS:
    """``ip netns add`` with a unique name; ``run(argv)`` runs a command inside it."""

    def __init__(self) -> None:
        self.name = f"lamina-test-{uuid.uuid4().hex[:12]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.delete()
            raise

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(argv), env=dict(env) if env is not None else None,
                              capture_output=True, text=True, timeout=timeout, **kw)

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(argv), **kw)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def needs_netns() -> None:
    import pytest

    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "nsenter", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
