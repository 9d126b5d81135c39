"""Registry auth: htpasswd, the access list, the token server and the checks of every request.

The pieces are tested on their own first, then through the real registry app in-process
(starlette's TestClient), as a client sees them: challenges, tokens, scopes, 401 and 403.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from httpx import Response
from starlette.testclient import TestClient

from lamina.errors import InvalidArgument, Unauthorized
from lamina.registry.auth.access import AccessList, Scope, parse_scopes
from lamina.registry.auth.authorizers import basic_credentials, requested_scope, scope_text
from lamina.registry.auth.htpasswd import Htpasswd, hash_password, parse, set_user
from lamina.registry.auth.token import (
    TokenAuthority,
    generate_key,
    libtrust_key_id,
    load_or_create_key,
)
from lamina.registry.config import AuthConfig, RegistryConfig
from lamina.registry.serve import build_app

# --------------------------------------------------------------------------- access list


def test_scope_parse_keeps_colons_in_the_name() -> None:
    s = Scope.parse("repository:localhost:5000/team/app:pull,push")
    assert (s.type, s.name, s.actions) == (
        "repository",
        "localhost:5000/team/app",
        frozenset({"pull", "push"}),
    )
    assert Scope.parse("repository(plugin):a/b:pull").type == "repository"
    assert [str(x) for x in parse_scopes(["repository:a:pull registry:catalog:*"])] == [
        "repository:a:pull",
        "registry:catalog:*",
    ]
    with pytest.raises(InvalidArgument):
        Scope.parse("nonsense")


def test_access_rules_globs_accounts_and_namespaces() -> None:
    access = AccessList.from_config(
        [
            {"account": "alice", "name": "team/*", "actions": ["pull", "push"]},
            {"account": "alice", "name": "team/*", "actions": ["delete"]},
            {"account": "*", "name": "public/**", "actions": ["pull"]},
            {"account": "*", "name": "${account}/**", "actions": ["*"]},
            {"account": "admin", "type": "registry", "name": "catalog", "actions": ["*"]},
        ]
    )
    assert access.allowed("alice", "repository", "team/app") == {"pull", "push", "delete"}
    # "*" stays within one component, "**" crosses them.
    assert access.allowed("alice", "repository", "team/app/sub") == frozenset()
    assert access.allowed("bob", "repository", "public/x/y") == {"pull"}
    assert access.allowed("bob", "repository", "bob/tools/x") == {"pull", "push", "delete"}
    assert access.allowed("bob", "repository", "alice/x") == frozenset()
    assert access.allowed("bob", "repository", "team/app") == frozenset()
    assert access.allowed(None, "repository", "public/x") == frozenset()
    assert access.allowed("admin", "registry", "catalog") == {"*"}
    assert access.allowed("alice", "registry", "catalog") == frozenset()


def test_access_grant_never_exceeds_the_request() -> None:
    access = AccessList.from_config([{"account": "alice", "name": "**", "actions": ["*"]}])
    granted = access.grant("alice", Scope.parse("repository:a:pull"))
    assert granted.actions == {"pull"}
    unknown = access.grant("alice", Scope.parse("repository:a:pull,frobnicate"))
    assert unknown.actions == {"pull"}
    limited = AccessList.from_config([{"account": "bob", "name": "**", "actions": ["pull"]}])
    assert limited.grant("bob", Scope.parse("repository:a:*")).actions == {"pull"}
    assert access.grant("alice", Scope.parse("repository:a:*")).actions == {
        "pull",
        "push",
        "delete",
    }


def test_empty_access_list_lets_authenticated_users_do_anything() -> None:
    access = AccessList([], anonymous_pull=True)
    assert access.allowed("anyone", "repository", "x/y") == {"pull", "push", "delete"}
    assert access.allowed(None, "repository", "x/y") == {"pull"}
    assert AccessList([]).allowed(None, "repository", "x/y") == frozenset()


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "a", "actions": ["pull"]},
        {"account": "a", "actions": ["pull"]},
        {"account": "a", "name": "a", "actions": ["fly"]},
        {"account": "a", "name": "a", "type": "plugin", "actions": ["pull"]},
    ],
)
def test_bad_access_rules_are_refused(rule: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        AccessList.from_config([rule])


# --------------------------------------------------------------------------- htpasswd


def test_htpasswd_checks_bcrypt_and_ignores_other_hashes(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(
        f"alice:{hash_password('s3cret', rounds=4)}\n"
        "# a comment\n"
        "md5user:$apr1$abc$def\n"
        "plain:password\n"
    )
    hp = Htpasswd(path)
    assert set(hp.users()) == {"alice"}
    assert hp.check("alice", "s3cret")
    assert hp.is_cached("alice", "s3cret")
    assert not hp.check("alice", "wrong")
    assert not hp.check("nobody", "s3cret")
    assert not hp.check("plain", "password")


def test_htpasswd_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    set_user(path, "alice", "one", rounds=4)
    hp = Htpasswd(path)
    assert hp.check("alice", "one")
    set_user(path, "alice", "two", rounds=4)
    set_user(path, "bob", "three", rounds=4)
    assert not hp.check("alice", "one")  # the remembered success goes with the old hash
    assert hp.check("alice", "two")
    assert hp.check("bob", "three")
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_htpasswd_accepts_apache_2y_hashes() -> None:
    line = "u:" + hash_password("pw", rounds=4)
    assert line.startswith("u:$2y$")
    assert set(parse(line)) == {"u"}


def test_basic_credentials_parsing() -> None:
    header = "Basic " + base64.b64encode(b"alice:pa:ss").decode()
    assert basic_credentials(header) == ("alice", "pa:ss")
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic " + base64.b64encode(b"nocolon").decode()) is None


# --------------------------------------------------------------------------- tokens


@pytest.fixture(scope="module")
def authority() -> TokenAuthority:
    return TokenAuthority(generate_key(), issuer="test-issuer", service="test-service", ttl=60)


def test_token_claims_follow_the_docker_spec(authority: TokenAuthority) -> None:
    issued = authority.issue("alice", [Scope.parse("repository:a/b:pull,push")])
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "ES256"
    assert header["kid"] == authority.kid
    assert len(authority.kid.split(":")) == 12
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert claims["iss"] == "test-issuer"
    assert claims["aud"] == "test-service"
    assert claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "a/b", "actions": ["pull", "push"]}]
    assert claims["exp"] - claims["iat"] == 60
    access = authority.verify(issued.token)
    assert access.allows("repository", "a/b", {"pull", "push"})
    assert not access.allows("repository", "a/b", {"delete"})
    assert not access.allows("repository", "a/c", {"pull"})


def test_expired_token_is_refused(authority: TokenAuthority) -> None:
    now = int(time.time())
    claims = {"iss": "test-issuer", "aud": "test-service", "sub": "a", "iat": now - 600}
    claims["exp"] = now - 300
    token = jwt.encode(claims, authority.key, algorithm="ES256", headers={"kid": authority.kid})
    with pytest.raises(Unauthorized, match="expired"):
        authority.verify(token)


def test_token_signed_by_another_key_is_refused(authority: TokenAuthority) -> None:
    other = TokenAuthority(generate_key(), issuer="test-issuer", service="test-service")
    token = other.issue("alice", [Scope.parse("repository:a:pull")]).token
    with pytest.raises(Unauthorized, match=r"(?i)signature"):
        authority.verify(token)


def test_token_for_another_service_or_issuer_is_refused(authority: TokenAuthority) -> None:
    for issuer, service in (("test-issuer", "elsewhere"), ("mallory", "test-service")):
        other = TokenAuthority(authority.key, issuer=issuer, service=service)
        token = other.issue("alice", [Scope.parse("repository:a:pull")]).token
        with pytest.raises(Unauthorized):
            authority.verify(token)


def test_unsigned_token_is_refused(authority: TokenAuthority) -> None:
    now = int(time.time())
    claims = {"iss": "test-issuer", "aud": "test-service", "iat": now, "exp": now + 60}
    claims["access"] = [{"type": "repository", "name": "a", "actions": ["pull"]}]
    token = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(Unauthorized):
        authority.verify(token)


def test_refresh_and_access_tokens_are_not_interchangeable(authority: TokenAuthority) -> None:
    refresh = authority.issue_refresh("alice")
    assert authority.verify_refresh(refresh) == "alice"
    with pytest.raises(Unauthorized):
        authority.verify(refresh)
    with pytest.raises(Unauthorized):
        authority.verify_refresh(authority.issue("alice", []).token)


def test_signing_key_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "key.pem"
    key = load_or_create_key(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert libtrust_key_id(load_or_create_key(path)) == libtrust_key_id(key)
    assert os.listdir(path.parent) == ["key.pem"]


def test_scope_text_uses_the_clients_order() -> None:
    scope = requested_scope("a/b", frozenset({"push", "pull", "delete"}))
    assert scope is not None
    assert scope_text(scope) == "repository:a/b:pull,push,delete"
    catalog = requested_scope(None, frozenset({"catalog"}))
    assert catalog is not None
    assert scope_text(catalog) == "registry:catalog:*"
    assert requested_scope(None, frozenset()) is None


# --------------------------------------------------------------------------- through the app


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
