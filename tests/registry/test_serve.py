"""``lamina registry serve``: settings, a real server on loopback, workers, SIGTERM."""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from helpers.tls import write_tls_pair
from lamina.errors import InvalidArgument
from lamina.registry.auth.htpasswd import set_user
from lamina.registry.config import RegistryConfig
from lamina.registry.serve import (
    apply_env,
    apply_flags,
    config_from_json,
    config_to_json,
    load_config,
    parse_addr,
    validate,
)

from .servers import Server, lamina_server

CONFIG = """
root = "data"
addr = "127.0.0.1:5999"
workers = 2
gc_grace_seconds = 60

[auth]
kind = "htpasswd"
htpasswd = "users.htpasswd"
anonymous_pull = true

[[auth.access]]
account = "alice"
name = "team/**"
actions = ["pull", "push"]
"""


def test_config_file_is_read_with_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "registry.toml").write_text(CONFIG)
    config = load_config(tmp_path / "registry.toml")
    assert config.root == tmp_path / "data"
    assert config.addr == "127.0.0.1:5999"
    assert config.workers == 2
    assert config.gc_grace_seconds == 60
    assert config.auth.kind == "htpasswd"
    assert config.auth.htpasswd == tmp_path / "users.htpasswd"
    assert config.auth.anonymous_pull is True
    assert config.auth.access == [
        {"account": "alice", "name": "team/**", "actions": ["pull", "push"]}
    ]
    # Flags override the file; None means "not given".
    apply_flags(config, root=Path("/srv/r"), workers=None, read_only=True)
    assert config.root == Path("/srv/r") and config.workers == 2 and config.read_only
    assert config_from_json(config_to_json(config)) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rooot = 'x'", "unknown setting"),
        ("workers = 'two'", "must be an integer"),
        ("read_only = 1", "true or false"),
        ("[auth]\nkind = 3", "must be a string"),
        ("[auth]\nfoo = 1", "unknown setting 'auth.foo'"),
        ("root = [", "not valid TOML"),
    ],
)
def test_bad_config_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "r.toml").write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        load_config(tmp_path / "r.toml")


def test_settings_are_validated() -> None:
    assert parse_addr("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_addr("[::1]:5000") == ("::1", 5000)
    assert parse_addr(":5000") == ("0.0.0.0", 5000)
    for bad in ("localhost", "host:port", "1.2.3.4:70000"):
        with pytest.raises(InvalidArgument):
            parse_addr(bad)
    with pytest.raises(InvalidArgument, match="TLS"):
        validate(RegistryConfig(tls_cert=Path("c.pem")))
    config = RegistryConfig()
    config.auth.kind = "kerberos"
    with pytest.raises(InvalidArgument, match="auth kind"):
        validate(config)


def test_backend_settings_are_validated() -> None:
    from lamina.registry.serve import config_from_mapping

    for data, message in [
        ({"metadata": {"kind": "mysql"}}, "unknown metadata kind"),
        ({"metadata": {"kind": "postgres"}}, "needs metadata.dsn"),
        ({"storage": {"driver": "gcs"}}, "unknown storage driver"),
        ({"storage": {"driver": "s3"}}, "needs storage.bucket"),
        ({"storage": {"redirect": True}}, "redirect needs the s3 driver"),
        ({"metadata": {"kind": "postgres", "dsn": "x"}, "auth": {"kind": "token"}},
         "one signing key for every replica"),
    ]:  # fmt: skip
        with pytest.raises(InvalidArgument, match=message):
            validate(config_from_mapping(data))
    with pytest.raises(InvalidArgument, match=r"unknown setting 'storage\.bukket'"):
        config_from_mapping({"storage": {"bukket": "x"}})


def test_every_setting_can_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "registry.toml").write_text(CONFIG + '[storage]\nbucket = "from-file"\n')
    config = load_config(tmp_path / "registry.toml")
    apply_env(
        config,
        {
            "LAMINA_REGISTRY_WORKERS": "3",
            "LAMINA_REGISTRY_READ_ONLY": "true",
            "LAMINA_REGISTRY_METADATA_KIND": "postgres",
            "LAMINA_REGISTRY_METADATA_DSN": "host=db dbname=r",
            "LAMINA_REGISTRY_STORAGE_DRIVER": "s3",
            "LAMINA_REGISTRY_STORAGE_BUCKET": "from-env",
            "LAMINA_REGISTRY_STORAGE_PATH_STYLE": "false",
            "LAMINA_REGISTRY_AUTH_TOKEN_KEY": "key.pem",
            "LAMINA_REGISTRY_AUTH_ACCESS": '[{"account": "bob", "name": "*", "actions": ["pull"]}]',
            "UNRELATED": "x",
        },
    )
    assert config.workers == 3 and config.read_only is True
    assert config.metadata.kind == "postgres" and config.metadata.dsn == "host=db dbname=r"
    assert config.storage.bucket == "from-env" and config.storage.path_style is False
    assert config.auth.token_key == Path.cwd() / "key.pem"
    assert config.auth.access == [{"account": "bob", "name": "*", "actions": ["pull"]}]
    assert config.auth.kind == "htpasswd"  # from the file: not overridden
    # Through the JSON a parent hands its workers, unchanged.
    assert config_from_json(config_to_json(config)) == config
    for env, message in [
        ({"LAMINA_REGISTRY_WORKERS": "many"}, "must be an integer"),
        ({"LAMINA_REGISTRY_STORAGE_REDIRECT": "perhaps"}, "must be true or false"),
        ({"LAMINA_REGISTRY_STORAGE_BUKKET": "x"}, "unknown setting LAMINA_REGISTRY_STORAGE_BUKKET"),
    ]:  # fmt: skip
        with pytest.raises(InvalidArgument, match=message):
            apply_env(RegistryConfig(), env)


# --------------------------------------------------------------------------- real servers


def request(
    server: Server, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_server_starts_and_answers(tmp_path: Path, workers: int) -> None:
    # How fast it starts is bench/registry.py's to measure; a test only checks that it does.
    with lamina_server(tmp_path / "root", workers=workers) as srv:
        srv.start(tmp_path / "server.log")
        status, headers, _ = request(srv, "GET", "/v2/")
        assert status == 200
        assert headers["docker-distribution-api-version"] == "registry/2.0"
        assert srv.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_request_in_flight(tmp_path: Path, workers: int) -> None:
    with lamina_server(tmp_path / "root", workers=workers) as server:
        server.start(tmp_path / "server.log")
        sigterm_during_upload(server)


def sigterm_during_upload(server: Server) -> None:
    status, headers, _ = request(server, "POST", "/v2/slow/blobs/uploads/")
    assert status == 202
    location = headers["location"]
    chunks = [b"a" * 65536 for _ in range(10)]
    data = b"".join(chunks)
    result: dict[str, object] = {}
    sent_first = threading.Event()

    def upload() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.putrequest("PATCH", location)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(len(data)))
        conn.putheader("Content-Range", f"0-{len(data) - 1}")
        conn.endheaders()
        for i, chunk in enumerate(chunks):
            conn.send(chunk)
            if i == 0:
                sent_first.set()
            time.sleep(0.1)
        r = conn.getresponse()
        result["status"] = r.status
        result["headers"] = dict(r.getheaders())
        r.read()
        conn.close()

    thread = threading.Thread(target=upload)
    thread.start()
    assert sent_first.wait(10)
    time.sleep(0.2)
    server.terminate()
    thread.join(30)
    assert result.get("status") == 202, result
    assert server.proc is not None
    assert server.proc.wait(20) == 0


def test_config_file_with_htpasswd_and_two_workers(tmp_path: Path) -> None:
    set_user(tmp_path / "users.htpasswd", "alice", "wonderland", rounds=4)
    (tmp_path / "registry.toml").write_text(CONFIG)
    with lamina_server(tmp_path / "data", config=tmp_path / "registry.toml", workers=2) as srv:
        srv.start(tmp_path / "server.log")
        # Anonymous pull is on, push needs alice.
        assert request(srv, "GET", "/v2/team/app/tags/list")[0] == 404
        status, headers, _ = request(srv, "POST", "/v2/team/app/blobs/uploads/")
        assert status == 401
        assert headers["www-authenticate"].startswith("Basic realm=")
        req = urllib.request.Request(
            f"{srv.url}/v2/team/app/blobs/uploads/", method="POST", data=b""
        )
        import base64

        creds = base64.b64encode(b"alice:wonderland").decode()
        req.add_header("Authorization", f"Basic {creds}")
        # Several uploads, so that both workers take part; each finishes on whichever worker.
        for i in range(6):
            blob = f"blob {i}".encode()
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            with urllib.request.urlopen(req) as r:
                assert r.status == 202
                location = r.headers["Location"]
            sep = "&" if "?" in location else "?"
            put = urllib.request.Request(
                f"{srv.url}{location}{sep}digest={digest}", method="PUT", data=blob
            )
            put.add_header("Authorization", f"Basic {creds}")
            with urllib.request.urlopen(put) as r:
                assert r.status == 201
            assert request(srv, "GET", f"/v2/team/app/blobs/{digest}")[2] == blob
        metrics = request(srv, "GET", "/metrics")[2].decode()
        assert "lamina_registry_http_requests_total" in metrics
        assert srv.stop() == 0
    log = (tmp_path / "server.log").read_text()
    assert "wonderland" not in log and creds not in log
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(entry["user"] == "alice" for entry in access)


def test_tls_and_token_realm_over_https(tmp_path: Path) -> None:
    import ssl

    cert, key = write_tls_pair(tmp_path)
    set_user(tmp_path / "users", "alice", "pw", rounds=4)
    config = tmp_path / "r.toml"
    config.write_text(f'[auth]\nkind = "token"\nhtpasswd = "{tmp_path / "users"}"\n')
    srv = lamina_server(
        tmp_path / "root", config=config, extra=["--tls-cert", str(cert), "--tls-key", str(key)]
    )
    # Readiness is polled over plain HTTP, which a TLS server answers with an error: enough.
    with srv:
        srv.start(tmp_path / "server.log")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=10, context=context)
        conn.request("GET", "/v2/team/app/tags/list")
        r = conn.getresponse()
        r.read()
        assert r.status == 401
        challenge = r.getheader("WWW-Authenticate") or ""
        assert challenge.startswith(f'Bearer realm="https://127.0.0.1:{srv.port}/token"')
        conn.close()


def test_read_only_flag_refuses_pushes(tmp_path: Path) -> None:
    with lamina_server(tmp_path / "root", extra=["--read-only"]) as srv:
        srv.start(tmp_path / "server.log")
        status, _, body = request(srv, "POST", "/v2/a/blobs/uploads/")
        assert status == 405
        assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
        assert request(srv, "GET", "/v2/a/tags/list")[0] == 404


def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    from .test_metrics import sample

    with lamina_server(tmp_path / "root", workers=2) as srv:
        srv.start(tmp_path / "server.log")
        # Each request on a new connection: the kernel hands them to either worker.
        for _ in range(20):
            assert request(srv, "GET", "/v2/_catalog")[0] == 200
        scrapes = [request(srv, "GET", "/metrics")[2].decode() for _ in range(6)]
        for text in scrapes:
            n = sample(text, "lamina_registry_http_requests_total", route="/v2/_catalog")
            assert n == 20
        assert srv.stop() == 0


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.update(int(c) for c in children)
    return found


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    import os
    import signal

    with lamina_server(tmp_path / "root", workers=2) as srv:
        srv.start(tmp_path / "server.log")
        assert srv.proc is not None
        workers = children_of(srv.proc.pid)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = children_of(srv.proc.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"workers now {children_of(srv.proc.pid)}, was {workers}")
        for _ in range(10):
            assert request(srv, "GET", "/v2/")[0] == 200
        assert srv.stop() == 0
