"""Registry auth, piece by piece: the access list, htpasswd, tokens and their checks.

Through the app, as a client sees it: test_auth_http.py.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

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
