"""``lamina login`` and ``lamina logout`` as docker's, against real registries on loopback:
lamina's with token auth and with htpasswd, and the CNCF registry with htpasswd."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.tls import write_tls_pair
from lamina.registry.auth.htpasswd import set_user
from registry.servers import CNCF_REGISTRY, Server, cncf_server, lamina_server
from remote.credhelper import install_helper

from .conftest import Run

HUB = "https://index.docker.io/v1/"
P_WARNING = "WARNING! Using --password via the CLI is insecure. Use --password-stdin."


def make_htpasswd(tmp: Path) -> Path:
    path = tmp / "htpasswd"
    set_user(path, "alice", "s3cret!", rounds=4)
    return path


def registry(tmp: Path, kind: str) -> Server:
    config = tmp / "registry.toml"
    config.write_text(
        f'[auth]\nkind = "{kind}"\nhtpasswd = "{make_htpasswd(tmp)}"\n'
        '[[auth.access]]\naccount = "alice"\nname = "**"\nactions = ["*"]\n'
    )
    return lamina_server(tmp / "root", config=config)


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with registry(tmp_path_factory.mktemp("token"), "token") as srv:
        srv.start()
        yield srv


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with registry(tmp_path_factory.mktemp("basic"), "htpasswd") as srv:
        srv.start()
        yield srv


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    monkeypatch.setenv("LAMINA_CONFIG", str(tmp_path / "lamina.toml"))  # none: the defaults
    return path


def saved(docker_config: Path) -> dict[str, tuple[str, str]]:
    """What docker would read back: auths entries decoded from base64 ``user:password``."""
    path = docker_config / "config.json"
    if not path.exists():
        return {}
    out = {}
    for key, entry in json.loads(path.read_text())["auths"].items():
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        out[key] = (user, password)
    return out


@pytest.mark.parametrize("kind", ["token", "basic"])
def test_login_checks_and_saves(
    kind: str,
    token_registry: Server,
    basic_registry: Server,
    lamina: Run,
    docker_config: Path,
) -> None:
    srv = token_registry if kind == "token" else basic_registry
    result = lamina("login", "-u", "alice", "-p", "s3cret!", srv.host)
    assert result.code == 0, result.err
    assert result.out == "Login Succeeded\n"
    assert result.err.splitlines()[0] == P_WARNING
    assert "WARNING! Your credentials are stored unencrypted in" in result.err
    assert str(docker_config / "config.json") in result.err
    assert saved(docker_config) == {srv.host: ("alice", "s3cret!")}


def test_password_stdin(token_registry: Server, lamina: Run, docker_config: Path) -> None:
    result = lamina(
        "login", "--username", "alice", "--password-stdin", token_registry.host, stdin=b"s3cret!\n"
    )
    assert result.code == 0, result.err
    assert P_WARNING not in result.err
    assert saved(docker_config) == {token_registry.host: ("alice", "s3cret!")}


def test_a_refused_token_login(token_registry: Server, lamina: Run, docker_config: Path) -> None:
    result = lamina("login", "-u", "alice", "-p", "wrong", token_registry.host)
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines()[-1] == (
        f'Error response from daemon: Get "http://{token_registry.host}/v2/": '
        "unauthorized: invalid username or password"
    )
    assert saved(docker_config) == {}


def test_a_refused_basic_login(basic_registry: Server, lamina: Run, docker_config: Path) -> None:
    result = lamina("login", "-u", "alice", "--password-stdin", basic_registry.host, stdin=b"no")
    assert result.code == 1
    assert result.err == (
        f"Error response from daemon: login attempt to http://{basic_registry.host}/v2/ "
        "failed with status: 401 Unauthorized\n"
    )
    assert saved(docker_config) == {}


@pytest.mark.peer
@pytest.mark.skipif(not Path(CNCF_REGISTRY).exists(), reason="needs docker-registry")
def test_login_to_the_cncf_registry(tmp_path: Path, lamina: Run, docker_config: Path) -> None:
    with cncf_server(tmp_path / "cncf", htpasswd=make_htpasswd(tmp_path)) as srv:
        srv.start()
        refused = lamina("login", "-u", "alice", "-p", "nope", srv.host)
        assert refused.code == 1 and "failed with status: 401 Unauthorized" in refused.err
        result = lamina("login", "-u", "alice", "-p", "s3cret!", srv.host)
        assert result.code == 0, result.err
        assert saved(docker_config) == {srv.host: ("alice", "s3cret!")}


def test_unreachable_registry(lamina: Run, docker_config: Path) -> None:
    result = lamina("login", "-u", "a", "-p", "b", "127.0.0.1:1")
    assert result.code == 1
    last = result.err.splitlines()[-1]
    assert last.startswith('Error response from daemon: Get "http://127.0.0.1:1/v2/": ')
    assert "refused" in last.lower()


def test_flag_errors(lamina: Run, docker_config: Path) -> None:
    both = lamina("login", "-u", "a", "-p", "b", "--password-stdin", "r.example", stdin=b"c")
    assert both.code == 1
    assert both.err == f"{P_WARNING}\n--password and --password-stdin are mutually exclusive\n"
    no_user = lamina("login", "--password-stdin", "r.example", stdin=b"c")
    assert no_user.code == 1
    assert no_user.err == "Must provide --username with --password-stdin\n"
    no_tty = lamina("login", "r.example")
    assert no_tty.code == 1
    assert no_tty.err == "Error: Cannot perform an interactive login from a non TTY device\n"


def test_login_again_with_saved_credentials(
    token_registry: Server, lamina: Run, docker_config: Path
) -> None:
    assert lamina("login", "-u", "alice", "-p", "s3cret!", token_registry.host).code == 0
    again = lamina("login", token_registry.host)
    assert again.code == 0, again.err
    assert again.out == "Login Succeeded\n"
    assert again.err.startswith("Authenticating with existing credentials... [Username: alice]\n")
    # Saved credentials that stopped working: said so, then a prompt (impossible without a TTY).
    path = docker_config / "config.json"
    data = json.loads(path.read_text())
    data["auths"][token_registry.host]["auth"] = base64.b64encode(b"alice:old").decode()
    path.write_text(json.dumps(data))
    stale = lamina("login", token_registry.host)
    assert stale.code == 1
    assert stale.err.splitlines()[1:] == [
        "Stored credentials invalid or expired",
        "Error: Cannot perform an interactive login from a non TTY device",
    ]


def test_logout(token_registry: Server, lamina: Run, docker_config: Path) -> None:
    host = token_registry.host
    assert lamina("logout", host).out == f"Not logged in to {host}\n"
    assert lamina("login", "-u", "alice", "-p", "s3cret!", host).code == 0
    result = lamina("logout", host)
    assert (result.code, result.out) == (0, f"Removing login credentials for {host}\n")
    assert json.loads((docker_config / "config.json").read_text())["auths"] == {}
    assert lamina("logout", f"http://{host}").out == f"Not logged in to {host}\n"


def test_logout_of_docker_hub(lamina: Run, docker_config: Path) -> None:
    assert lamina("logout").out == f"Not logged in to {HUB}\n"
    docker_config.mkdir()
    auth = base64.b64encode(b"alice:pw").decode()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {HUB: {"auth": auth}}, "detachKeys": "ctrl-x"})
    )
    result = lamina("logout")
    assert result.out == f"Removing login credentials for {HUB}\n"
    assert json.loads((docker_config / "config.json").read_text()) == {
        "auths": {},
        "detachKeys": "ctrl-x",
    }


def test_login_with_a_credential_helper(
    token_registry: Server,
    lamina: Run,
    docker_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install_helper(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    secrets = tmp_path / "helper.json"
    monkeypatch.setenv("TEST_HELPER_STORE", str(secrets))
    docker_config.mkdir()
    (docker_config / "config.json").write_text('{"credsStore": "test"}')
    host = token_registry.host
    result = lamina("login", "-u", "alice", "--password-stdin", host, stdin=b"s3cret!")
    assert result.code == 0, result.err
    assert result.err == ""  # nothing stored unencrypted: no warning
    assert json.loads(secrets.read_text()) == {host: ["alice", "s3cret!"]}
    assert json.loads((docker_config / "config.json").read_text()) == {
        "credsStore": "test",
        "auths": {host: {}},
    }
    assert lamina("logout", host).out == f"Removing login credentials for {host}\n"
    assert json.loads(secrets.read_text()) == {}


def test_prompts_on_a_terminal(token_registry: Server, tmp_path: Path) -> None:
    """No flags, on a TTY: "Username: " then getpass's "Password: ", as docker."""
    env = dict(
        os.environ,
        DOCKER_CONFIG=str(tmp_path / "dc"),
        LAMINA_ROOT=str(tmp_path / "s"),
        LAMINA_CONFIG=str(tmp_path / "lamina.toml"),
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.execve(
            sys.executable, [sys.executable, "-m", "lamina", "login", token_registry.host], env
        )
    transcript = b""

    def expect(text: bytes, timeout: float = 30.0) -> None:
        nonlocal transcript
        deadline = time.monotonic() + timeout
        while text not in transcript:
            assert time.monotonic() < deadline, transcript
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    transcript += os.read(fd, 4096)
                except OSError:
                    break

    try:
        expect(b"Username: ")
        os.write(fd, b"alice\n")
        expect(b"Password: ")
        os.write(fd, b"s3cret!\n")
        expect(b"Login Succeeded")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"s3cret!" not in transcript  # the password is not echoed
    assert saved(tmp_path / "dc") == {token_registry.host: ("alice", "s3cret!")}


@pytest.mark.peer
@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
def test_skopeo_uses_a_lamina_login(
    basic_registry: Server, lamina: Run, docker_config: Path
) -> None:
    assert lamina("login", "-u", "alice", "-p", "s3cret!", basic_registry.host).code == 0
    authfile = str(docker_config / "config.json")
    ok = subprocess.run(
        ["skopeo", "login", "--get-login", "--authfile", authfile, basic_registry.host],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.stdout.strip() == "alice", ok.stderr
    catalog = subprocess.run(
        [
            "skopeo",
            "list-tags",
            "--tls-verify=false",
            "--authfile",
            authfile,
            f"docker://{basic_registry.host}/team/none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Authenticated: the registry says the repository is unknown, not that we are anonymous.
    assert "unauthorized" not in catalog.stderr.lower(), catalog.stderr


def test_push_and_pull_with_a_login(
    token_registry: Server, lamina: Run, load_image: Any, docker_config: Path
) -> None:
    """The whole way: the login saved by ``lamina login`` opens push and pull over tokens."""
    name = f"{token_registry.host}/team/app:1"
    load_image(tags=[name])
    anonymous = lamina("push", name)
    assert anonymous.code == 1
    assert any(word in anonymous.err.lower() for word in ("unauthorized", "denied", "401"))
    assert lamina("login", "-u", "alice", "-p", "s3cret!", token_registry.host).code == 0
    pushed = lamina("push", name)
    assert pushed.code == 0, pushed.err
    assert lamina("rmi", name).code == 0
    pulled = lamina("pull", name)
    assert pulled.code == 0, pulled.err
    assert pulled.out.splitlines()[-1] == name


def test_a_missing_credential_helper(
    token_registry: Server, lamina: Run, docker_config: Path
) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text('{"credsStore": "missing"}')
    result = lamina(
        "login", "-u", "alice", "--password-stdin", token_registry.host, stdin=b"s3cret!"
    )
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "Error saving credentials: credential helper docker-credential-missing not found on PATH"
    )
    assert json.loads((docker_config / "config.json").read_text()) == {"credsStore": "missing"}


def test_logout_when_the_helper_is_gone(lamina: Run, docker_config: Path) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text(
        json.dumps({"credsStore": "missing", "auths": {"r.example": {}}})
    )
    result = lamina("logout", "r.example")
    assert result.code == 0
    assert result.out == "Removing login credentials for r.example\n"
    assert result.err == (
        "WARNING: could not erase credentials: r.example: "
        "credential helper docker-credential-missing not found on PATH\n"
    )
    assert json.loads((docker_config / "config.json").read_text())["auths"] == {}


def test_login_over_tls_on_loopback(tmp_path: Path, lamina: Run, docker_config: Path) -> None:
    """A loopback registry that speaks TLS is used over HTTPS (unverified, as docker treats
    loopback registries), its realm too."""
    write_tls_pair(tmp_path)
    config = tmp_path / "registry.toml"
    config.write_text(f'[auth]\nkind = "token"\nhtpasswd = "{make_htpasswd(tmp_path)}"\n')
    tls = ["--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")]
    with lamina_server(tmp_path / "root", config=config, extra=tls) as srv:
        srv.start(tmp_path / "server.log")
        refused = lamina("login", "-u", "alice", "-p", "nope", srv.host)
        assert refused.code == 1
        assert refused.err.splitlines()[-1] == (
            f'Error response from daemon: Get "https://{srv.host}/v2/": '
            "unauthorized: invalid username or password"
        )
        result = lamina("login", "-u", "alice", "-p", "s3cret!", srv.host)
        assert result.code == 0, result.err
        assert saved(docker_config) == {srv.host: ("alice", "s3cret!")}
