"""Registry auth through the real app in-process (starlette's TestClient), as a client sees
it: challenges, tokens, scopes, 401 and 403, the OAuth grants of /token."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from httpx import Response
from starlette.testclient import TestClient

from lamina.registry.auth.access import Scope
from lamina.registry.auth.htpasswd import set_user
from lamina.registry.auth.token import (
    TokenAuthority,
    generate_key,
    libtrust_key_id,
    load_or_create_key,
)
from lamina.registry.config import AuthConfig, RegistryConfig
from lamina.registry.serve import build_app


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def push_blob(client: TestClient, repo: str, data: bytes, headers: dict[str, str]) -> Response:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data, headers=headers)


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    set_user(path, "alice", "alice-pw", rounds=4)
    set_user(path, "bob", "bob-pw", rounds=4)
    set_user(path, "admin", "admin-pw", rounds=4)
    return path


ACCESS: list[dict[str, object]] = [
    {"account": "alice", "name": "team/**", "actions": ["pull", "push", "delete"]},
    {"account": "bob", "name": "team/**", "actions": ["pull"]},
    {"account": "admin", "type": "registry", "name": "catalog", "actions": ["*"]},
    {"account": "admin", "name": "**", "actions": ["*"]},
]


def app_client(tmp_path: Path, auth: AuthConfig) -> TestClient:
    config = RegistryConfig(root=tmp_path / "root", auth=auth)
    return TestClient(build_app(config), base_url="http://127.0.0.1")


@pytest.fixture
def htpasswd_client(tmp_path: Path, users: Path) -> Iterator[TestClient]:
    auth = AuthConfig(kind="htpasswd", htpasswd=users, realm="my realm", access=ACCESS)
    with app_client(tmp_path, auth) as client:
        yield client


def test_htpasswd_challenges_and_envelope(htpasswd_client: TestClient) -> None:
    r = htpasswd_client.get("/v2/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="my realm"'
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert htpasswd_client.get("/v2/", headers=basic("alice", "nope")).status_code == 401
    assert htpasswd_client.get("/v2/", headers=basic("mallory", "x")).status_code == 401
    assert htpasswd_client.get("/v2/", headers=basic("alice", "alice-pw")).status_code == 200


def test_htpasswd_access_list_decides_per_repository(htpasswd_client: TestClient) -> None:
    assert (
        push_blob(htpasswd_client, "team/app", b"data", basic("alice", "alice-pw")).status_code
        == 201
    )
    denied = push_blob(htpasswd_client, "team/app", b"data", basic("bob", "bob-pw"))
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["code"] == "DENIED"
    digest = "sha256:" + hashlib.sha256(b"data").hexdigest()
    assert (
        htpasswd_client.get(f"/v2/team/app/blobs/{digest}", headers=basic("bob", "bob-pw")).content
        == b"data"
    )
    assert (
        htpasswd_client.get(
            f"/v2/other/app/blobs/{digest}", headers=basic("bob", "bob-pw")
        ).status_code
        == 403
    )
    assert (
        htpasswd_client.get("/v2/_catalog", headers=basic("alice", "alice-pw")).status_code == 403
    )
    catalog = htpasswd_client.get("/v2/_catalog", headers=basic("admin", "admin-pw"))
    assert catalog.status_code == 200 and catalog.json()["repositories"] == ["team/app"]


def test_htpasswd_anonymous_pull(tmp_path: Path, users: Path) -> None:
    auth = AuthConfig(kind="htpasswd", htpasswd=users, anonymous_pull=True)
    with app_client(tmp_path, auth) as client:
        assert push_blob(client, "a/b", b"x", basic("bob", "bob-pw")).status_code == 201
        digest = "sha256:" + hashlib.sha256(b"x").hexdigest()
        assert client.get(f"/v2/a/b/blobs/{digest}").content == b"x"
        assert client.get("/v2/").status_code == 200
        assert push_blob(client, "a/b", b"y", {}).status_code == 401


@pytest.fixture
def token_client(tmp_path: Path, users: Path) -> Iterator[TestClient]:
    auth = AuthConfig(kind="token", htpasswd=users, access=ACCESS, token_service="reg.test")
    with app_client(tmp_path, auth) as client:
        yield client


def get_token(client: TestClient, *scopes: str, headers: dict[str, str] | None = None) -> str:
    r = client.get("/token", params={"service": "reg.test", "scope": list(scopes)}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    token: str = body["token"]
    return token


def claims_of(token: str) -> dict[str, Any]:
    result: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return result


def test_token_challenge_names_realm_service_and_scope(token_client: TestClient) -> None:
    r = token_client.get("/v2/")
    assert r.status_code == 401
    assert (
        r.headers["www-authenticate"] == 'Bearer realm="http://127.0.0.1/token",service="reg.test"'
    )
    r = token_client.post("/v2/team/app/blobs/uploads/")
    assert r.headers["www-authenticate"] == (
        'Bearer realm="http://127.0.0.1/token",service="reg.test",'
        'scope="repository:team/app:pull,push"'
    )
    r = token_client.get("/v2/_catalog")
    assert 'scope="registry:catalog:*"' in r.headers["www-authenticate"]


def test_token_grants_what_the_access_list_allows_and_no_more(token_client: TestClient) -> None:
    alice = basic("alice", "alice-pw")
    token = get_token(
        token_client, "repository:team/app:pull,push", "repository:other/x:pull", headers=alice
    )
    assert claims_of(token)["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]
    assert claims_of(token)["sub"] == "alice"
    assert push_blob(token_client, "team/app", b"blob", bearer(token)).status_code == 201
    # A token for team/app does not open team/other, nor other/x.
    for repo in ("team/other", "other/x"):
        r = push_blob(token_client, repo, b"blob", bearer(token))
        assert r.status_code == 401
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    # Nor does a pull-only token push, even for a user who may push.
    pull_only = get_token(token_client, "repository:team/app:pull", headers=alice)
    assert push_blob(token_client, "team/app", b"more", bearer(pull_only)).status_code == 401
    digest = "sha256:" + hashlib.sha256(b"blob").hexdigest()
    assert (
        token_client.get(f"/v2/team/app/blobs/{digest}", headers=bearer(pull_only)).content
        == b"blob"
    )
    # bob asked for push but may only pull: the token holds pull.
    bob = get_token(token_client, "repository:team/app:pull,push", headers=basic("bob", "bob-pw"))
    assert claims_of(bob)["access"][0]["actions"] == ["pull"]


def test_token_catalog_scope(token_client: TestClient) -> None:
    admin = get_token(token_client, "registry:catalog:*", headers=basic("admin", "admin-pw"))
    assert token_client.get("/v2/_catalog", headers=bearer(admin)).status_code == 200
    alice = get_token(token_client, "registry:catalog:*", headers=basic("alice", "alice-pw"))
    assert claims_of(alice)["access"] == []
    assert token_client.get("/v2/_catalog", headers=bearer(alice)).status_code == 401


def test_bad_tokens_are_refused(token_client: TestClient, tmp_path: Path) -> None:
    other = TokenAuthority(generate_key(), issuer="lamina-registry", service="reg.test")
    forged = other.issue("alice", [Scope.parse("repository:team/app:pull")]).token
    for token in (forged, "not.a.jwt", ""):
        r = token_client.get("/v2/team/app/tags/list", headers=bearer(token))
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith('Bearer realm="http://127.0.0.1/token"')
    alice = basic("alice", "alice-pw")
    good = get_token(token_client, "repository:team/app:pull", headers=alice)
    claims = claims_of(good)
    claims["exp"] = int(time.time()) - 3600
    claims["iat"] = claims["nbf"] = int(time.time()) - 7200
    # Signed with the registry's own key, so that only the expiry is wrong.
    key = load_or_create_key(tmp_path / "root" / "auth" / "token-key.pem")
    kid = jwt.get_unverified_header(good)["kid"]
    assert kid == libtrust_key_id(key)
    expired = jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})
    r = token_client.get("/v2/team/app/tags/list", headers=bearer(expired))
    assert r.status_code == 401
    assert r.json()["errors"][0]["message"] == "token has expired"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    # The same token with a key confusion attack (HS256 keyed with the public key) fails too.
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims["exp"] = int(time.time()) + 60
    confused = jwt.encode(claims, public.decode()[:40] * 2, algorithm="HS256")
    assert token_client.get("/v2/team/app/tags/list", headers=bearer(confused)).status_code == 401
    claims["access"] = [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    assert (
        token_client.get(
            "/v2/team/app/tags/list",
            headers=bearer(jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})),
        ).status_code
        == 404
    )
    # Basic credentials are no substitute for a token.
    assert token_client.get("/v2/team/app/tags/list", headers=alice).status_code == 401


def test_token_endpoint_refuses_bad_credentials(token_client: TestClient) -> None:
    r = token_client.get("/token", params={"service": "reg.test"}, headers=basic("alice", "x"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic realm=")
    r = token_client.get("/token", params={"service": "elsewhere"})
    assert r.status_code == 400


def test_anonymous_tokens(tmp_path: Path, users: Path) -> None:
    auth = AuthConfig(
        kind="token", htpasswd=users, access=ACCESS, anonymous_pull=True, token_service="reg.test"
    )
    with app_client(tmp_path, auth) as client:
        alice = get_token(
            client, "repository:team/app:push,pull", headers=basic("alice", "alice-pw")
        )
        assert push_blob(client, "team/app", b"pub", bearer(alice)).status_code == 201
        anon = get_token(client, "repository:team/app:pull,push")
        assert claims_of(anon)["access"][0]["actions"] == ["pull"]
        digest = "sha256:" + hashlib.sha256(b"pub").hexdigest()
        assert client.get(f"/v2/team/app/blobs/{digest}", headers=bearer(anon)).content == b"pub"
        assert push_blob(client, "team/app", b"x", bearer(anon)).status_code == 401
    auth = AuthConfig(kind="token", htpasswd=users, access=ACCESS, token_service="reg.test")
    with app_client(tmp_path, auth) as client:
        assert claims_of(get_token(client, "repository:team/app:pull"))["access"] == []


def test_oauth_password_and_refresh_grants(token_client: TestClient, users: Path) -> None:
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": "alice-pw",
        "service": "reg.test",
        "client_id": "test",
        "access_type": "offline",
        "scope": "repository:team/app:pull repository:team/app:push",
    }
    r = token_client.post("/token", data=form)
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["cache-control"] == "no-store"
    assert set(body) >= {"access_token", "scope", "expires_in", "issued_at", "refresh_token"}
    assert claims_of(body["access_token"])["sub"] == "alice"
    refresh = body["refresh_token"]
    # A refresh token is not an access token.
    assert token_client.get("/v2/team/app/tags/list", headers=bearer(refresh)).status_code == 401
    r = token_client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "reg.test",
              "scope": "repository:team/app:pull"},
    )  # fmt: skip
    assert r.status_code == 200
    assert claims_of(r.json()["access_token"])["access"][0]["actions"] == ["pull"]
    bad = dict(form, password="wrong")
    assert token_client.post("/token", data=bad).status_code == 401
    assert token_client.post("/token", data={"grant_type": "magic"}).status_code == 400
    # Removing the user from the file ends their refreshes.
    users.write_text(
        "\n".join(x for x in users.read_text().splitlines() if not x.startswith("alice:"))
    )
    r = token_client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 401


LONG = "x" * 73  # one byte more than bcrypt takes


@pytest.mark.parametrize("kind", ["htpasswd", "token"])
def test_unknown_and_known_users_get_the_same_401_the_same_way(
        tmp_path: Path, users: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords over bcrypt's 72 bytes used to raise (a 500) for an unknown user and a 401
    for a known one: which users exist showed. Every refusal is now the same 401, after
    exactly one bcrypt check at the file's cost."""
    from lamina.registry.auth import htpasswd as module

    checks: list[bytes] = []
    real = module.bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed[:7])
        return bool(real(password, hashed))

    monkeypatch.setattr(module.bcrypt, "checkpw", spy)
    auth = AuthConfig(kind=kind, htpasswd=users, access=ACCESS, token_service="reg.test",
                      realm="r")  # type: ignore[arg-type]
    path, params = ("/token", {"service": "reg.test"}) if kind == "token" else ("/v2/", {})
    answers = []
    with app_client(tmp_path, auth) as client:
        for user, password in [("nosuchuser", LONG), ("alice", LONG), ("alice", "wrong"),
                               ("nosuchuser", "wrong"), ("alice", "alice-pw" + "\0" * 70),
                               ("nosuchuser", "é" * 40)]:
            checks.clear()
            r = client.get(path, params=params, headers=basic(user, password))
            assert len(checks) == 1 and checks[0].startswith(b"$2") and checks[0][4:6] == b"04"
            answers.append((r.status_code, r.headers.get("www-authenticate"),
                            r.json()))
        assert all(a == answers[0] for a in answers), answers
        assert answers[0][0] == 401
        # A password of exactly 72 bytes still works.
        set_user(users, "carol", "c" * 72, rounds=4)
        assert client.get(path, params=params, headers=basic("carol", "c" * 72)).status_code \
            == 200
        # and its first 72 bytes followed by more never do.
        r = client.get(path, params=params, headers=basic("carol", "c" * 73))
        assert (r.status_code, r.json()) == answers[0][::2]
