"""Token realms that misbehave or differ, scripted on loopback: no POST endpoint, no lifetime,
oversized or broken answers, rate limits, skewed clocks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lamina.errors import RegistryError, TooManyRequests, Unauthorized
from lamina.remote.auth import Authenticator

from .spy import Answer, Seen, SpyServer

SCOPES = ["repository:team/app:pull"]


def realm_answer(body: Any, status: int = 200) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(status, {"Content-Type": "application/json"}, raw)


class Registry:
    """A Bearer registry whose realm (``/token`` on the same server) answers ``token``."""

    def __init__(self, token: Any) -> None:
        self.token = token
        self.spy = SpyServer(self.script)

    def script(self, seen: Seen) -> Answer:
        if seen.path.startswith("/token"):
            answer = self.token(seen) if callable(self.token) else self.token
            assert isinstance(answer, Answer)
            return answer
        if seen.headers.get("authorization", "").startswith("Bearer "):
            return Answer(200)
        realm = f"{self.spy.url}/token"
        return Answer(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="spy"'})

    def token_calls(self) -> list[Seen]:
        return [s for s in self.spy.seen if s.path.startswith("/token")]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def get(auth: Authenticator, client: httpx.Client, url: str) -> httpx.Response:
    request = client.build_request("GET", url)
    auth.authorize(request, SCOPES)
    response = client.send(request)
    if response.status_code == 401 and auth.handle_challenge(response, SCOPES):
        request = client.build_request("GET", url)
        auth.authorize(request, SCOPES)
        response = client.send(request)
    return response


def test_a_realm_without_post_gets_a_get(client: httpx.Client) -> None:
    def token(seen: Seen) -> Answer:
        if seen.method == "POST":
            return Answer(405)
        query = parse_qs(urlsplit(seen.path).query)
        assert query["scope"] == SCOPES and query["service"] == ["spy"]
        return realm_answer({"access_token": "t", "expires_in": 300})

    registry = Registry(token)
    with registry.spy:
        auth = Authenticator(registry.spy.host, lambda h: ("alice", "pw"), oauth=True)
        assert get(auth, client, f"{registry.spy.url}/v2/").status_code == 200
        assert [s.method for s in registry.token_calls()] == ["POST", "GET"]


def test_a_token_without_lifetime_lasts_60_seconds(client: httpx.Client) -> None:
    now = [1_000_000.0]
    registry = Registry(realm_answer({"token": "t"}))
    with registry.spy:
        auth = Authenticator(registry.spy.host, clock=lambda: now[0])
        url = f"{registry.spy.url}/v2/"
        assert get(auth, client, url).status_code == 200
        now[0] += 50
        assert get(auth, client, url).status_code == 200
        assert auth.token_fetches == 1
        now[0] += 10
        assert get(auth, client, url).status_code == 200
        assert auth.token_fetches == 2


def test_issued_at_counts_only_from_an_agreeing_clock(client: httpx.Client) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC).timestamp()]
    issued = {"value": "2029-12-31T23:59:30Z"}  # 30 s ago by our clock: taken as said

    def token(seen: Seen) -> Answer:
        return realm_answer({"token": "t", "expires_in": 100, "issued_at": issued["value"]})

    registry = Registry(token)
    with registry.spy:
        auth = Authenticator(registry.spy.host, clock=lambda: now[0])
        url = f"{registry.spy.url}/v2/"
        get(auth, client, url)
        now[0] += 66  # 96 s after issue: within the 5 s margin of expiry, renewed
        issued["value"] = "2020-01-01T00:00:00Z"  # a server clock years behind
        get(auth, client, url)
        assert auth.token_fetches == 2
        now[0] += 90  # counted from arrival: still good
        get(auth, client, url)
        assert auth.token_fetches == 2


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (realm_answer(b"x" * (2 * 1024 * 1024)), RegistryError, "oversized"),
        (realm_answer(b"<html>"), RegistryError, "no JSON object"),
        (realm_answer({"expires_in": 60}), RegistryError, "holds no token"),
        (
            realm_answer({"details": "slow down"}, 429),
            TooManyRequests,
            "toomanyrequests: slow down",
        ),
        (realm_answer({"error": "nope"}, 401), Unauthorized, "unauthorized: nope"),
        (Answer(500), RegistryError, "answered 500"),
    ],
)
def test_bad_realm_answers(
    client: httpx.Client, answer: Answer, error: type[Exception], words: str
) -> None:
    registry = Registry(answer)
    with registry.spy:
        auth = Authenticator(registry.spy.host)
        with pytest.raises(error) as raised:
            get(auth, client, f"{registry.spy.url}/v2/")
        assert words in str(raised.value)
        assert str(raised.value).startswith(registry.spy.host)
        assert "\n" not in str(raised.value)
