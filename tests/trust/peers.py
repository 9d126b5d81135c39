"""The Sigstore peers of the signature tests: cosign (from ``scripts/get-sigstore``) and
Sigstore's npm packages. A test that needs one that cannot be had fails saying so."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIGSTORE_JS = Path(__file__).resolve().parent / "sigstore-js"


def cosign() -> str:
    for candidate in (os.environ.get("LAMINA_COSIGN"), str(ROOT / ".peers/bin/cosign"),
                      shutil.which("cosign")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("cosign is missing: run scripts/get-sigstore (scripts/test does)")


def node_modules() -> Path:
    if shutil.which("node") is None:
        pytest.fail("node is missing: apt-get install npm, then scripts/get-sigstore")
    if not (SIGSTORE_JS / "node_modules/@sigstore/verify").is_dir():
        pytest.fail("Sigstore's npm packages are missing: run scripts/get-sigstore")
    return SIGSTORE_JS / "node_modules"


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})}, cwd=cwd)
