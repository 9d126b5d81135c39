"""Fixtures of the signature tests: an isolated home (policy, registries.d, keys), the CLI
in-process, a lamina registry with images pushed to it, and signing keys."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.conftest import Result, Run, in_process
from helpers.images import BuiltImage, make_image
from lamina.trust import keys
from registry.conformance import push_image
from registry.servers import Server


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of the test's own: no policy.json, registries.d or login of the machine's."""
    home = tmp_path / "home"
    (home / ".config/containers").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LAMINA_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("LAMINA_CONFIG", str(tmp_path / "lamina-config.toml"))
    monkeypatch.setenv("LAMINA_REGISTRIES_D", str(home / ".config/containers/registries.d"))
    for name in ("DOCKER_CONTENT_TRUST", "LAMINA_PASSPHRASE", "COSIGN_PASSWORD", "GNUPGHOME"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def lamina(capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch) -> Run:
    """``lamina("pull", ...)``: the CLI in-process; its exit code, stdout and stderr."""
    return in_process(capsysbinary, monkeypatch)


@dataclass
class KeyPair:
    key: Path
    pub: Path
    passphrase: bytes


def make_pair(directory: Path, name: str, algorithm: str = "ecdsa-p256",
              passphrase: bytes = b"secret") -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    key = keys.generate(algorithm)
    (directory / f"{name}.key").write_bytes(keys.encrypt_private(key, passphrase))
    (directory / f"{name}.pub").write_bytes(keys.public_pem(key))
    return KeyPair(directory / f"{name}.key", directory / f"{name}.pub", passphrase)


@pytest.fixture(scope="session")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """Two P-256 pairs (trusted, other) and an Ed25519 one, made once."""
    where = tmp_path_factory.mktemp("keys")
    return {"trusted": make_pair(where, "trusted"), "other": make_pair(where, "other"),
            "ed": make_pair(where, "ed", "ed25519")}


@pytest.fixture
def passfile(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_bytes(b"secret\n")
    return path


class Images:
    """Pushes freshly made images to a registry: ``images.push("repo:tag")`` -> digest."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.count = 0

    def push(self, name: str, image: BuiltImage | Any | None = None) -> str:
        repo, _, tag = name.partition(":")
        self.count += 1
        image = image or make_image([{f"file{self.count}": f"{name}\n".encode()}])
        with httpx.Client(base_url=self.server.url, timeout=30, trust_env=False) as client:
            return push_image(client, repo, image, tag or None)


@pytest.fixture
def images(lamina_registry: Server) -> Images:
    return Images(lamina_registry)


def write_policy(home: Path, doc: dict[str, Any]) -> Path:
    path = home / ".config/containers/policy.json"
    path.write_text(json.dumps(doc))
    return path


def sigstore_policy(scope: str, pub: Path, **extra: Any) -> dict[str, Any]:
    return {"default": [{"type": "insecureAcceptAnything"}],
            "transports": {"docker": {scope: [{"type": "sigstoreSigned", "keyPath": str(pub),
                                               **extra}]}}}


@pytest.fixture
def store_snapshot(tmp_path: Path) -> Callable[[], list[tuple[str, int, str]]]:
    """Every file of the store with its size and hash: a failed pull must leave them exactly
    so (the database's journal files and empty lock files aside: opening a store makes them)."""
    import hashlib

    def snapshot() -> list[tuple[str, int, str]]:
        root = tmp_path / "store"
        if not root.exists():
            return []
        return sorted((str(p.relative_to(root)), p.stat().st_size,
                       hashlib.sha256(p.read_bytes()).hexdigest())
                      for p in root.rglob("*") if p.is_file()
                      and not p.name.endswith(("-wal", "-shm", ".lock")))

    return snapshot


@pytest.fixture
def sign(lamina: Run, pairs: dict[str, KeyPair], passfile: Path) -> Callable[..., Result]:
    def run(image: str, pair: str = "trusted", *flags: str) -> Result:
        result = lamina("trust", "sign", "--key", str(pairs[pair].key), "--passphrase-file",
                        str(passfile), *flags, image)
        assert result.code == 0, result.err
        return result

    return run


@pytest.fixture
def registry_host(lamina_registry: Server) -> Iterator[str]:
    yield lamina_registry.host
