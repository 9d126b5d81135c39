"""Fixtures of the registry client's tests: a store, quick retries, real registries on loopback."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.images import BuiltImage, BuiltIndex, write_oci_layout
from lamina.remote.options import RemoteOptions
from lamina.store import Store
from registry.servers import CNCF_REGISTRY

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
needs_cncf = pytest.mark.skipif(not Path(CNCF_REGISTRY).exists(),
                                reason="needs docker-registry (the CNCF registry)")


@pytest.fixture(autouse=True)
def _no_host_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the host's docker logins or lamina config."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("LAMINA_CONFIG", str(tmp_path / "lamina-config.toml"))


@pytest.fixture
def options() -> RemoteOptions:
    return RemoteOptions(retries=2, backoff=0.01, certs_dirs=(), max_retry_after=2.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store") as s:
        yield s


def skopeo_push(tmp: Path, image: BuiltImage | BuiltIndex, target: str,
                fmt: str | None = None) -> None:
    """Push ``image`` to ``docker://target`` with skopeo (``fmt`` v2s2: as Docker v2)."""
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo")
    layout = write_oci_layout(tmp / f"layout-{hashlib.sha256(target.encode()).hexdigest()[:8]}",
                              [(image, "t")])
    argv = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
    if fmt:
        argv += ["--format", fmt]
    if isinstance(image, BuiltIndex):
        argv.append("--all")
    argv += [f"oci:{layout}:t", f"docker://{target}"]
    subprocess.run(argv, check=True, capture_output=True)
