"""The registry client's auth against real servers on loopback: lamina's registry with token
auth and with htpasswd, the CNCF registry with htpasswd, and a scripted server for what no
registry does on demand (redirects to another host, a plain-HTTP realm elsewhere)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lamina.errors import Denied, TransportError, Unauthorized
from lamina.registry.auth.htpasswd import set_user
from lamina.remote.auth import (
    Authenticator,
    auth_error,
    is_loopback,
    parse_challenges,
    registry_scope,
)
from registry.servers import CNCF_REGISTRY, Server, cncf_server, lamina_server

from .spy import Answer, Seen, SpyServer

BLOB = b"a blob for the auth tests\n"
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def creds(user: str, password: str) -> Any:
    return lambda host: (user, password)


def send(
    client: httpx.Client, auth: Authenticator, method: str, url: str, scopes: list[str], **kw: Any
) -> httpx.Response:
    """What a registry client does: authorize, send, and on a 401 retry once if it may help."""
    request = client.build_request(method, url, **kw)
    auth.authorize(request, scopes)
    response = client.send(request)
    if response.status_code == 401 and auth.handle_challenge(response, scopes):
        request = client.build_request(method, url, **kw)
        auth.authorize(request, scopes)
        response = client.send(request)
    return response


def log_entries(server: Server) -> list[dict[str, Any]]:
    assert server.log_path is not None
    entries = []
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def token_requests(server: Server) -> list[dict[str, Any]]:
    return [e for e in log_entries(server) if e["path"] == "/token"]


def htpasswd(tmp: Path) -> Path:
    path = tmp / "htpasswd"
    set_user(path, "alice", "s3cret!", rounds=4)
    set_user(path, "bob", "hunter2", rounds=4)
    return path


ACCESS = (
    '[[auth.access]]\naccount = "alice"\nname = "team/*"\nactions = ["*"]\n'
    '[[auth.access]]\naccount = "bob"\nname = "team/*"\nactions = ["pull"]\n'
)


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("token-registry")
    config = tmp / "registry.toml"
    config.write_text(f'[auth]\nkind = "token"\nhtpasswd = "{htpasswd(tmp)}"\n' + ACCESS)
    with lamina_server(tmp / "root", config=config) as srv:
        srv.start(tmp / "server.log")
        with httpx.Client() as client:
            auth = Authenticator(srv.host, creds("alice", "s3cret!"))
            for repo in ("team/app", "team/other"):
                url = f"{srv.url}/v2/{repo}/blobs/uploads/?digest={BLOB_DIGEST}"
                scopes = [registry_scope(repo, ["pull", "push"])]
                assert send(client, auth, "POST", url, scopes, content=BLOB).status_code == 201
        yield srv


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("basic-registry")
    config = tmp / "registry.toml"
    config.write_text(f'[auth]\nkind = "htpasswd"\nhtpasswd = "{htpasswd(tmp)}"\n' + ACCESS)
    with lamina_server(tmp / "root", config=config) as srv:
        srv.start(tmp / "server.log")
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def blob_url(server: Server, repo: str = "team/app") -> str:
    return f"{server.url}/v2/{repo}/blobs/{BLOB_DIGEST}"


PULL_APP = [registry_scope("team/app", ["pull"])]


# --- the header and small functions ------------------------------------------------------


def test_parse_several_challenges_with_quoted_commas() -> None:
    found = parse_challenges(
        [
            'Basic realm="a, b \\"quoted\\"", Bearer realm="https://auth.example/token?x=1,2",'
            'service="registry.example",scope="repository:a/b:pull,push repository:c:pull"',
            "Negotiate abc==",
        ]
    )
    assert [c.scheme for c in found] == ["basic", "bearer", "negotiate"]
    assert found[0].params == {"realm": 'a, b "quoted"'}
    assert found[1].params == {
        "realm": "https://auth.example/token?x=1,2",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push repository:c:pull",
    }
    assert found[2].token68 == "abc=="


def test_parse_is_case_insensitive_and_tolerates_blanks() -> None:
    (c,) = parse_challenges(['BEARER  Realm = "http://127.0.0.1/token" , Service=reg'])
    assert c.scheme == "bearer"
    assert c.params == {"realm": "http://127.0.0.1/token", "service": "reg"}


def test_registry_scope_and_loopback() -> None:
    assert registry_scope("team/app", ["pull", "push"]) == "repository:team/app:pull,push"
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:80")
    assert not is_loopback("registry.example:5000") and not is_loopback("10.0.0.1")


def test_docker_hub_hosts_share_credentials() -> None:
    auth = Authenticator("docker.io", creds("alice", "pw"))
    request = httpx.Request("GET", "https://registry-1.docker.io/v2/")
    challenge = httpx.Response(
        401, headers={"WWW-Authenticate": 'Basic realm="x"'}, request=request
    )
    assert auth.handle_challenge(challenge, [])
    retry = httpx.Request("GET", "https://registry-1.docker.io/v2/library/debian/tags/list")
    auth.authorize(retry, [])
    assert retry.headers["Authorization"].startswith("Basic ")
    elsewhere = httpx.Request("GET", "https://cdn.example/blob")
    auth.authorize(elsewhere, [])
    assert "Authorization" not in elsewhere.headers


# --- Bearer tokens from lamina's token server ----------------------------------------------


def test_anonymous_token_when_no_credentials(token_registry: Server, client: httpx.Client) -> None:
    auth = Authenticator(token_registry.host)
    before = len(token_requests(token_registry))
    response = send(client, auth, "GET", f"{token_registry.url}/v2/", [])
    assert response.status_code == 200
    assert auth.scheme == "bearer"
    fetched = token_requests(token_registry)[before:]
    assert len(fetched) == 1 and fetched[0]["user"] is None


def test_one_token_fetch_for_many_requests(token_registry: Server, client: httpx.Client) -> None:
    auth = Authenticator(token_registry.host, creds("alice", "s3cret!"))
    before = len(token_requests(token_registry))
    for _ in range(10):
        assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).content == BLOB
    failures: list[int] = []

    def pull() -> None:
        with httpx.Client() as own:
            for _ in range(5):
                status = send(own, auth, "GET", blob_url(token_registry), PULL_APP).status_code
                if status != 200:
                    failures.append(status)

    threads = [threading.Thread(target=pull) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert auth.token_fetches == 1
    assert len(token_requests(token_registry)) - before == 1
    statuses = [e["status"] for e in log_entries(token_registry)[-40:] if e["path"] != "/token"]
    assert 401 not in statuses[-30:]  # every later request carried the cached token


def test_tokens_are_kept_per_scope(token_registry: Server, client: httpx.Client) -> None:
    auth = Authenticator(token_registry.host, creds("alice", "s3cret!"))
    push_app = [registry_scope("team/app", ["pull", "push"])]
    assert send(client, auth, "HEAD", blob_url(token_registry), push_app).status_code == 200
    # A token for pull and push on team/app serves a pull of team/app.
    assert send(client, auth, "HEAD", blob_url(token_registry), PULL_APP).status_code == 200
    assert auth.token_fetches == 1
    # Another repository needs another token, and the first one does not open it.
    other = [registry_scope("team/other", ["pull"])]
    request = client.build_request("HEAD", blob_url(token_registry, "team/other"))
    auth.authorize(request, push_app)
    assert client.send(request).status_code == 401
    assert (
        send(client, auth, "HEAD", blob_url(token_registry, "team/other"), other).status_code == 200
    )
    assert auth.token_fetches == 2
    # Both stay cached.
    assert send(client, auth, "HEAD", blob_url(token_registry), PULL_APP).status_code == 200
    assert (
        send(client, auth, "HEAD", blob_url(token_registry, "team/other"), other).status_code == 200
    )
    assert auth.token_fetches == 2


def test_wrong_password_is_unauthorized_naming_the_registry(
    token_registry: Server, client: httpx.Client
) -> None:
    auth = Authenticator(token_registry.host, creds("alice", "wrong"))
    with pytest.raises(Unauthorized) as err:
        send(client, auth, "GET", blob_url(token_registry), PULL_APP)
    assert str(err.value) == f"{token_registry.host}: unauthorized: invalid username or password"
    assert "\n" not in str(err.value)


def test_a_read_only_account_is_denied_a_push(token_registry: Server, client: httpx.Client) -> None:
    auth = Authenticator(token_registry.host, creds("bob", "hunter2"))
    push = [registry_scope("team/app", ["pull", "push"])]
    url = f"{token_registry.url}/v2/team/app/blobs/uploads/"
    response = send(client, auth, "POST", url, push)
    assert response.status_code == 401  # the token lacks push: retrying cannot help
    with pytest.raises(Denied, match=token_registry.host):
        auth.handle_challenge(response, push)
    # The same account still pulls.
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200


def test_an_expired_token_is_renewed_with_the_refresh_token(
    token_registry: Server, client: httpx.Client
) -> None:
    now = [time.time()]
    auth = Authenticator(token_registry.host, creds("alice", "s3cret!"), clock=lambda: now[0])
    before = len(token_requests(token_registry))
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    assert auth.refresh_token  # asked with offline_token=true
    now[0] += 200  # the server's tokens live 300 s
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    assert auth.token_fetches == 1
    now[0] += 101
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    assert auth.token_fetches == 2
    methods = [e["method"] for e in token_requests(token_registry)[before:]]
    assert methods == ["GET", "POST"]  # the renewal used the refresh-token grant


def test_a_token_the_registry_refuses_later_is_fetched_again(
    token_registry: Server, client: httpx.Client
) -> None:
    auth = Authenticator(token_registry.host, creds("alice", "s3cret!"))
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    # The registry now rejects the cached token (as after a key rotation): one new fetch.
    request = client.build_request("GET", blob_url(token_registry))
    request.headers["Authorization"] = "Bearer not-a-jwt"
    rejected = client.send(request)
    auth._tokens[frozenset(PULL_APP)].value = "not-a-jwt"
    assert rejected.status_code == 401
    assert auth.handle_challenge(rejected, PULL_APP)
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    assert auth.token_fetches == 2


def test_password_grant_and_identity_token(token_registry: Server, client: httpx.Client) -> None:
    before = len(token_requests(token_registry))
    auth = Authenticator(token_registry.host, creds("alice", "s3cret!"), oauth=True)
    assert send(client, auth, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    refresh = auth.refresh_token
    assert refresh
    # docker's identity token: user "<token>", the refresh token as the secret.
    again = Authenticator(token_registry.host, creds("<token>", refresh))
    assert send(client, again, "GET", blob_url(token_registry), PULL_APP).status_code == 200
    assert [e["method"] for e in token_requests(token_registry)[before:]] == ["POST", "POST"]
    bad = Authenticator(token_registry.host, creds("<token>", "garbage"))
    with pytest.raises(Unauthorized, match="identity token"):
        send(client, bad, "GET", blob_url(token_registry), PULL_APP)


# --- Basic: lamina's htpasswd and the CNCF registry ---------------------------------------


def check_basic(server: Server, client: httpx.Client) -> None:
    auth = Authenticator(server.host, creds("alice", "s3cret!"))
    response = send(client, auth, "GET", f"{server.url}/v2/", [])
    assert response.status_code == 200
    assert auth.scheme == "basic"
    # Later requests carry Basic at once, with no 401 first.
    request = client.build_request("GET", f"{server.url}/v2/")
    auth.authorize(request, [])
    assert (
        request.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret!").decode()
    )
    assert client.send(request).status_code == 200
    wrong = Authenticator(server.host, creds("alice", "nope"))
    refused = send(client, wrong, "GET", f"{server.url}/v2/", [])
    assert refused.status_code == 401
    assert not wrong.handle_challenge(refused, [])  # the retry already carried them
    assert "unauthorized" in str(auth_error(server.host, refused))
    anonymous = Authenticator(server.host)
    assert send(client, anonymous, "GET", f"{server.url}/v2/", []).status_code == 401


def test_basic_with_lamina_htpasswd(basic_registry: Server, client: httpx.Client) -> None:
    check_basic(basic_registry, client)


@pytest.mark.peer
@pytest.mark.skipif(not Path(CNCF_REGISTRY).exists(), reason="needs docker-registry")
def test_basic_with_the_cncf_registry(tmp_path: Path, client: httpx.Client) -> None:
    with cncf_server(tmp_path / "cncf", htpasswd=htpasswd(tmp_path)) as srv:
        srv.start()
        check_basic(srv, client)


# --- where credentials may go -------------------------------------------------------------


def bearer_registry(realm: str) -> Any:
    def script(seen: Seen) -> Answer:
        if seen.path.startswith("/token"):
            return Answer(
                200,
                {"Content-Type": "application/json"},
                json.dumps({"token": "t0k3n", "expires_in": 300}).encode(),
            )
        if seen.headers.get("authorization") == "Bearer t0k3n":
            return Answer(200)
        return Answer(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="spy"'})

    return script


def test_a_plain_http_realm_elsewhere_is_refused() -> None:
    realm = "http://registry.example.invalid/token"
    with SpyServer(bearer_registry(realm)) as spy, httpx.Client() as client:
        auth = Authenticator(spy.host, creds("alice", "s3cret!"))
        with pytest.raises(Unauthorized, match="plain HTTP") as err:
            send(client, auth, "GET", f"{spy.url}/v2/", [])
        assert spy.host in str(err.value)
        # A loopback registry is insecure only by default: that does not vouch for the realm.
        implicit = Authenticator(spy.host, creds("alice", "s3cret!"), insecure=True)
        with pytest.raises(Unauthorized, match="plain HTTP"):
            send(client, implicit, "GET", f"{spy.url}/v2/", [])
        assert not any(s.path.startswith("/token") for s in spy.seen)
    # A registry the user listed as insecure may name one: the fetch is tried (no DNS here).
    listed = Authenticator("registry.example.invalid:5000", creds("alice", "pw"), insecure=True)
    request = httpx.Request("GET", "http://registry.example.invalid:5000/v2/")
    challenge = httpx.Response(
        401, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'}, request=request
    )
    with pytest.raises(TransportError, match="token server"):
        listed.handle_challenge(challenge, [])
    # Without that, the same challenge is refused before any connection.
    unlisted = Authenticator("registry.example.invalid:5000", creds("alice", "pw"))
    with pytest.raises(Unauthorized, match="plain HTTP"):
        unlisted.handle_challenge(challenge, [])


def test_a_plain_http_realm_on_loopback_is_used() -> None:
    with SpyServer(bearer_registry("")) as spy, httpx.Client() as client:
        spy.script = bearer_registry(f"{spy.url}/token")
        auth = Authenticator(spy.host, creds("alice", "s3cret!"))
        assert send(client, auth, "GET", f"{spy.url}/v2/", []).status_code == 200
        token_call = next(s for s in spy.seen if s.path.startswith("/token"))
        assert token_call.headers["authorization"].startswith("Basic ")
        assert "offline_token=true" in token_call.path and "client_id=lamina" in token_call.path


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_authorization_never_follows_a_redirect_to_another_host(scheme: str) -> None:
    with (
        SpyServer(lambda seen: Answer(200, body=BLOB), host="localhost") as cdn,
        SpyServer(lambda seen: Answer(500)) as registry,
    ):
        target = f"{cdn.url}/bucket/blob"

        def script(seen: Seen) -> Answer:
            if seen.path.startswith("/token"):
                return Answer(200, {"Content-Type": "application/json"}, b'{"token":"t0k3n"}')
            header = seen.headers.get("authorization", "")
            if not header:
                challenge = (
                    'Basic realm="spy"'
                    if scheme == "basic"
                    else f'Bearer realm="{registry.url}/token",service="spy"'
                )
                return Answer(401, {"WWW-Authenticate": challenge})
            return Answer(307, {"Location": target})

        registry.script = script
        auth = Authenticator(registry.host, creds("alice", "s3cret!"))
        with httpx.Client(follow_redirects=True) as client:
            response = send(client, auth, "GET", f"{registry.url}/v2/team/app/blobs/x", PULL_APP)
        assert response.status_code == 200 and response.content == BLOB
        assert any("authorization" in s.headers for s in registry.seen if s.path.startswith("/v2"))
        assert cdn.seen and all("authorization" not in s.headers for s in cdn.seen)
        # Nor does authorize put it on a request for the other host.
        elsewhere = httpx.Request("GET", target)
        auth.authorize(elsewhere, PULL_APP)
        assert "Authorization" not in elsewhere.headers
