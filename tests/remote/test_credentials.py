"""docker's config.json as lamina reads and writes it: auths, Docker Hub's key, credential
helpers (a real ``docker-credential-test`` program on PATH), atomic 0600 writes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.errors import InvalidArgument, NotFound
from lamina.remote import credentials
from lamina.remote.credentials import DOCKER_HUB_KEY, erase, lookup, store

from .credhelper import install_helper


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    return path


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``docker-credential-test`` on PATH; returns the JSON file it keeps secrets in."""
    bin_dir = tmp_path / "bin"
    install_helper(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    secrets = tmp_path / "helper-store.json"
    monkeypatch.setenv("TEST_HELPER_STORE", str(secrets))
    return secrets


def read(docker_config: Path) -> dict[str, object]:
    data = json.loads((docker_config / "config.json").read_text())
    assert isinstance(data, dict)
    return data


def docker_decode(entry: dict[str, str]) -> tuple[str, str]:
    """As docker's decodeAuth: base64 of ``user:password``, split at the first colon."""
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, password


def test_store_writes_what_docker_reads(docker_config: Path) -> None:
    assert store("127.0.0.1:5000", "alice", "pa:ss word") == docker_config / "config.json"
    data = read(docker_config)
    assert data == {"auths": {"127.0.0.1:5000": {"auth": data["auths"]["127.0.0.1:5000"]["auth"]}}}  # type: ignore[index]
    assert docker_decode(data["auths"]["127.0.0.1:5000"]) == ("alice", "pa:ss word")  # type: ignore[index]
    mode = stat.S_IMODE((docker_config / "config.json").stat().st_mode)
    assert mode == 0o600
    assert lookup("127.0.0.1:5000") == ("alice", "pa:ss word")
    assert lookup("127.0.0.1:5001") is None
    assert [p.name for p in docker_config.iterdir()] == ["config.json"]  # no temporary left


def test_docker_hub_has_its_key(docker_config: Path) -> None:
    store("docker.io", "alice", "pw")
    assert list(read(docker_config)["auths"]) == [DOCKER_HUB_KEY]  # type: ignore[call-overload]
    for name in (None, "docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_KEY):
        assert credentials.server_key(name) == DOCKER_HUB_KEY
        assert lookup(name or "docker.io") == ("alice", "pw")


def test_other_keys_of_the_file_are_kept(docker_config: Path) -> None:
    docker_config.mkdir()
    original = {
        "auths": {"other.example": {"auth": base64.b64encode(b"bob:x").decode(), "email": "b@x"}},
        "psFormat": "table {{.ID}}",
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "HttpHeaders": {"User-Agent": "x"},
    }
    (docker_config / "config.json").write_text(json.dumps(original))
    store("registry.example:5000", "alice", "pw")
    data = read(docker_config)
    for key in ("psFormat", "proxies", "HttpHeaders"):
        assert data[key] == original[key]
    assert data["auths"]["other.example"] == original["auths"]["other.example"]  # type: ignore[index]
    assert erase("registry.example:5000")
    data = read(docker_config)
    assert list(data["auths"]) == ["other.example"]  # type: ignore[call-overload]
    assert data["psFormat"] == "table {{.ID}}"


def test_keys_written_as_urls_are_found_and_erased(docker_config: Path) -> None:
    docker_config.mkdir()
    auth = base64.b64encode(b"carol:pw").decode()
    (docker_config / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "https://registry.example:5000/v1/": {"auth": auth},
                    "http://registry.example:5000": {"auth": auth},
                }
            }
        )
    )
    assert lookup("registry.example:5000") == ("carol", "pw")
    assert credentials.is_logged_in("registry.example:5000")
    assert erase("https://registry.example:5000")
    assert read(docker_config)["auths"] == {}
    assert not erase("registry.example:5000")


def test_identity_tokens_and_plain_fields(docker_config: Path) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "a.example": {
                        "auth": base64.b64encode(b"dave:").decode(),
                        "identitytoken": "rt",
                    },
                    "b.example": {"username": "erin", "password": "pw"},
                    "c.example": {},
                }
            }
        )
    )
    assert lookup("a.example") == ("<token>", "rt")
    assert lookup("b.example") == ("erin", "pw")
    assert lookup("c.example") is None


def test_a_broken_file_is_a_clear_error(docker_config: Path) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match=r"config\.json is not valid JSON"):
        lookup("x.example")
    (docker_config / "config.json").write_text(json.dumps({"auths": {"x.example": {"auth": "@@"}}}))
    with pytest.raises(InvalidArgument, match="not base64"):
        lookup("x.example")


def test_a_symlinked_config_is_written_through(docker_config: Path, tmp_path: Path) -> None:
    docker_config.mkdir()
    real = tmp_path / "dotfiles" / "docker.json"
    real.parent.mkdir()
    real.write_text('{"auths": {}}')
    (docker_config / "config.json").symlink_to(real)
    store("r.example", "alice", "pw")
    assert (docker_config / "config.json").is_symlink()
    assert "r.example" in json.loads(real.read_text())["auths"]


def test_creds_store_keeps_the_secret(docker_config: Path, helper: Path) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "test"}))
    assert store("127.0.0.1:5000", "alice", "s3cret!") is None
    assert store("docker.io", "hub-user", "hub-pw") is None
    data = read(docker_config)
    # As docker: the file only records that a login exists; the secret is the helper's.
    assert data["auths"] == {"127.0.0.1:5000": {}, DOCKER_HUB_KEY: {}}
    assert "s3cret" not in (docker_config / "config.json").read_text()
    assert json.loads(helper.read_text()) == {
        "127.0.0.1:5000": ["alice", "s3cret!"],
        DOCKER_HUB_KEY: ["hub-user", "hub-pw"],
    }
    assert lookup("127.0.0.1:5000") == ("alice", "s3cret!")
    assert lookup("docker.io") == ("hub-user", "hub-pw")
    assert lookup("127.0.0.1:5001") is None  # "credentials not found" is not an error
    assert erase("127.0.0.1:5000")
    assert "127.0.0.1:5000" not in json.loads(helper.read_text())
    assert read(docker_config)["auths"] == {DOCKER_HUB_KEY: {}}
    log = Path(f"{helper}.log").read_text().splitlines()
    assert log[0].startswith("store {") and "get 127.0.0.1:5000" in log


def test_cred_helpers_per_registry_win(docker_config: Path, helper: Path) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text(
        json.dumps({"credsStore": "missing", "credHelpers": {"r.example": "test"}})
    )
    store("r.example", "alice", "pw")
    assert lookup("r.example") == ("alice", "pw")
    assert json.loads(helper.read_text()) == {"r.example": ["alice", "pw"]}
    # Every other registry goes to credsStore, whose program is not installed.
    with pytest.raises(NotFound, match="docker-credential-missing not found"):
        lookup("other.example")


@pytest.mark.peer
@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
def test_skopeo_reads_what_lamina_wrote_and_the_other_way(docker_config: Path) -> None:
    """containers/image parses docker's config.json: a real reader of the format."""
    store("registry.example:5000", "alice", "pw:with:colons")
    out = subprocess.run(
        [
            "skopeo",
            "login",
            "--get-login",
            "--authfile",
            str(docker_config / "config.json"),
            "registry.example:5000",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "alice"
    subprocess.run(
        [
            "skopeo",
            "logout",
            "--authfile",
            str(docker_config / "config.json"),
            "registry.example:5000",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert lookup("registry.example:5000") is None


def test_logins_at_once_lose_nothing(docker_config: Path) -> None:
    """Processes writing the file at the same time each keep their entry (docker's own CLI
    would lose some: it rewrites the file without a lock)."""
    code = (
        "import sys\n"
        "from lamina.remote.credentials import store\n"
        "for i in range(10):\n"
        "    store(f'r{sys.argv[1]}-{i}.example', 'u', 'p')\n"
    )
    env = dict(os.environ, DOCKER_CONFIG=str(docker_config))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], env=env) for n in range(4)]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    auths = read(docker_config)["auths"]
    assert len(auths) == 40  # type: ignore[arg-type]
    assert [p.name for p in docker_config.iterdir()] == ["config.json"]
