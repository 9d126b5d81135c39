"""The CNCF registry (distribution 2.8) with token auth, its tokens issued by lamina's registry
acting as the token server: challenges written by another implementation, tokens checked by
another implementation, and lamina's client and CLI in between."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.tls import self_signed
from lamina.errors import Denied, Unauthorized
from lamina.registry.auth.htpasswd import set_user
from lamina.registry.auth.token import generate_key, key_to_pem
from lamina.remote.auth import Authenticator, registry_scope
from registry.servers import CNCF_REGISTRY, Server, free_port, lamina_server

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(not Path(CNCF_REGISTRY).exists(), reason="needs docker-registry"),
]

BLOB = b"pushed through a token from another server\n"


@dataclass
class Pair:
    registry: Server  # the CNCF registry
    tokens: Server  # lamina's registry, used for its /token endpoint only


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("cncf-token")
    key = generate_key()
    (tmp / "key.pem").write_bytes(key_to_pem(key))
    (tmp / "cert.pem").write_bytes(self_signed(key, "lamina token issuer"))
    set_user(tmp / "htpasswd", "alice", "s3cret!", rounds=4)
    (tmp / "lamina.toml").write_text(
        f'[auth]\nkind = "token"\nhtpasswd = "{tmp / "htpasswd"}"\n'
        f'token_key = "{tmp / "key.pem"}"\n'
        '[[auth.access]]\naccount = "alice"\nname = "team/*"\nactions = ["*"]\n'
    )
    with lamina_server(tmp / "lamina-root", config=tmp / "lamina.toml") as tokens:
        tokens.start(tmp / "lamina.log")
        port = free_port()
        (tmp / "cncf.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
            "auth:\n  token:\n"
            f"    realm: {tokens.url}/token\n"
            "    service: lamina-registry\n"
            "    issuer: lamina-registry\n"
            f"    rootcertbundle: {tmp / 'cert.pem'}\n"
        )
        with Server([CNCF_REGISTRY, "serve", str(tmp / "cncf.yml")], port) as registry:
            registry.start(tmp / "cncf.log")
            yield Pair(registry, tokens)


def send(
    client: httpx.Client, auth: Authenticator, method: str, url: str, scopes: list[str], **kw: Any
) -> httpx.Response:
    request = client.build_request(method, url, **kw)
    auth.authorize(request, scopes)
    response = client.send(request)
    if response.status_code == 401 and auth.handle_challenge(response, scopes):
        request = client.build_request(method, url, **kw)
        auth.authorize(request, scopes)
        response = client.send(request)
    return response


def test_push_and_pull_a_blob_with_tokens(pair: Pair) -> None:
    digest = "sha256:" + hashlib.sha256(BLOB).hexdigest()
    base = pair.registry.url
    auth = Authenticator(pair.registry.host, lambda host: ("alice", "s3cret!"))
    push = [registry_scope("team/app", ["pull", "push"])]
    pull = [registry_scope("team/app", ["pull"])]
    with httpx.Client() as client:
        started = send(client, auth, "POST", f"{base}/v2/team/app/blobs/uploads/", push)
        assert started.status_code == 202, started.text
        location = httpx.URL(base).join(started.headers["Location"])
        done = send(
            client,
            auth,
            "PUT",
            str(location.copy_merge_params({"digest": digest})),
            push,
            content=BLOB,
        )
        assert done.status_code == 201, done.text
        got = send(client, auth, "GET", f"{base}/v2/team/app/blobs/{digest}", pull)
        assert got.content == BLOB
    assert auth.scheme == "bearer"
    assert auth.token_fetches == 1  # the pull,push token served the pull too


def test_refusals_from_the_other_implementation(pair: Pair) -> None:
    base = pair.registry.url
    scopes = [registry_scope("other/app", ["pull", "push"])]
    with httpx.Client() as client:
        wrong = Authenticator(pair.registry.host, lambda host: ("alice", "nope"))
        with pytest.raises(Unauthorized, match="unauthorized: invalid username or password"):
            send(client, wrong, "POST", f"{base}/v2/other/app/blobs/uploads/", scopes)
        # A good account without access to the repository: a token without the grant, which
        # the CNCF registry refuses with error="insufficient_scope".
        auth = Authenticator(pair.registry.host, lambda host: ("alice", "s3cret!"))
        refused = send(client, auth, "POST", f"{base}/v2/other/app/blobs/uploads/", scopes)
        assert refused.status_code == 401
        assert "insufficient_scope" in refused.headers["WWW-Authenticate"]
        with pytest.raises(Denied, match=pair.registry.host):
            auth.handle_challenge(refused, scopes)


def test_lamina_login_push_and_pull(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI end to end against the CNCF registry, credentials saved by ``lamina login``."""
    import io
    import sys

    from helpers.images import make_docker_legacy_archive, make_image
    from lamina.cli.main import main

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("LAMINA_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("LAMINA_CONFIG", str(tmp_path / "lamina.toml"))

    def lamina(*argv: str, stdin: bytes = b"") -> int:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        try:
            main(list(argv))
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        return 0

    host = pair.registry.host
    name = f"{host}/team/interop:1"
    archive = tmp_path / "image.tar"
    archive.write_bytes(make_docker_legacy_archive([(make_image([{"etc/x": b"x\n"}]), [name])]))
    assert lamina("load", "-i", str(archive)) == 0
    assert lamina("login", "-u", "alice", "--password-stdin", host, stdin=b"s3cret!\n") == 0
    saved = json.loads((tmp_path / "docker" / "config.json").read_text())["auths"][host]
    assert base64.b64decode(saved["auth"]) == b"alice:s3cret!"
    assert lamina("push", name) == 0
    assert lamina("rmi", name) == 0
    assert lamina("pull", name) == 0
    assert lamina("logout", host) == 0
    assert lamina("rmi", name) == 0
    assert lamina("pull", name) != 0  # anonymous now: the registry refuses
