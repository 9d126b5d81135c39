"""Arbitrary query strings on every route of the registry: never a 500.

Every route of the app (in-process) gets every query parameter it reads, and some it does not,
with values drawn by Hypothesis: Unicode digits, huge and negative numbers, digests and
near-digests, scopes, empty strings, and raw percent-encoded bytes. Whatever comes, the answer
is the registry's own (a 2xx, 3xx or 4xx with its error body), never a server error.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from helpers.images import make_image
from lamina.registry.auth.htpasswd import set_user
from lamina.registry.config import AuthConfig, RegistryConfig
from lamina.registry.serve import build_app

REPO = "fuzz/repo"
IMAGE = make_image([{"hello": b"hello fuzz"}])
LAYER = IMAGE.layer_digests[0]
MANIFEST = IMAGE.manifest_digest

# (method, path, the query parameters it reads) of every route; {upload} is an open upload
# session's id.
UPLOAD = f"/v2/{REPO}/blobs/uploads/{{upload}}"
ROUTES = [
    ("GET", "/v2/", ()),
    ("GET", "/v2", ()),
    ("GET", "/v2/_catalog", ("n", "last")),
    ("GET", f"/v2/{REPO}/tags/list", ("n", "last")),
    ("GET", f"/v2/{REPO}/manifests/v1", ()),
    ("GET", f"/v2/{REPO}/manifests/{MANIFEST}", ()),
    ("PUT", f"/v2/{REPO}/manifests/fuzzed", ()),
    ("DELETE", f"/v2/{REPO}/manifests/nosuchtag", ()),
    ("POST", f"/v2/{REPO}/blobs/uploads/", ("digest", "mount", "from")),
    ("POST", f"/v2/{REPO}/blobs/uploads", ("digest", "mount", "from")),
    ("GET", UPLOAD, ()),
    ("PATCH", UPLOAD, ()),
    ("PUT", UPLOAD, ("digest",)),
    ("DELETE", UPLOAD, ()),
    ("GET", f"/v2/{REPO}/blobs/{LAYER}", ()),
    ("DELETE", f"/v2/{REPO}/blobs/sha256:{'0' * 64}", ()),
    ("GET", f"/v2/{REPO}/referrers/{MANIFEST}", ("artifactType",)),
    ("GET", "/token", ("service", "scope", "account", "offline_token", "client_id")),
    ("POST", "/token", ("service", "scope", "grant_type", "client_id")),
    ("GET", "/metrics", ()),
]
PARAMETERS = sorted({p for _, _, params in ROUTES for p in params})

_numbers = st.integers(min_value=-(2**70), max_value=2**70).map(str) | st.sampled_from(
    ["0", "1", "9223372036854775807", "9223372036854775808", "9" * 5000, "0" * 20 + "7"])
_unicode_digits = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6)
_digests = st.sampled_from([LAYER, MANIFEST, "sha256:", "sha256:" + "g" * 64, "sha512:" + "a" * 128,
                            "md5:" + "a" * 32, "sha256:" + "A" * 64, ":", "sha256:" + "a" * 65])
_scopes = st.builds(lambda t, n, a: f"{t}:{n}:{a}",
                    st.sampled_from(["repository", "registry", "", "x"]),
                    st.sampled_from([REPO, "catalog", "", "a:b", "UPPER", "../x"]),
                    st.sampled_from(["pull", "push,pull", "*", "", "pull,,", "delete"]))
_values = (_numbers | _unicode_digits | _digests | _scopes | st.text(max_size=40)
           | st.sampled_from(["", "0", "00", "true", "false", REPO, "fuzz/other", "v1"]))
_keys = st.sampled_from(PARAMETERS) | st.text(max_size=8)
_raw_bytes = st.binary(max_size=24).map(lambda b: quote_from_bytes(b, safe=""))


@st.composite
def queries(draw: st.DrawFn, route_parameters: tuple[str, ...]) -> str:
    """A query string: mostly the route's own parameters, sometimes others, sometimes a key
    twice, sometimes raw percent-encoded bytes that are not UTF-8."""
    keys = st.sampled_from(route_parameters) if route_parameters else _keys
    pairs = draw(st.lists(st.tuples(keys | _keys, _values | _raw_bytes), max_size=4))
    parts = []
    for key, value in pairs:
        encoded = value if "%" in value and value.replace("%", "").isalnum() else \
            quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")
        parts.append(f"{quote_from_bytes(key.encode('utf-8', 'surrogatepass'), safe='')}="
                     f"{encoded}")
    if draw(st.booleans()):
        parts.append(draw(_raw_bytes))  # a bare key, or garbage
    return "&".join(parts)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module", params=["none", "token"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app with an image pushed; no auth, or tokens (its /token endpoint fuzzed too)."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    auth = AuthConfig()
    headers: dict[str, str] = {}
    if request.param == "token":
        users = tmp / "htpasswd"
        set_user(users, "alice", "alice-pw", rounds=4)
        auth = AuthConfig(kind="token", htpasswd=users, token_service="reg.test",
                          access=[{"account": "alice", "name": "**", "actions": ["*"]},
                                  {"account": "alice", "type": "registry", "name": "catalog",
                                   "actions": ["*"]}])
    config = RegistryConfig(root=tmp / "root", auth=auth, log_requests=False)
    with TestClient(build_app(config), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as c:
        if request.param == "token":
            token = c.get("/token", params={"service": "reg.test",
                                            "scope": [f"repository:{REPO}:pull,push,delete",
                                                      "registry:catalog:*"]},
                          headers=_basic("alice", "alice-pw")).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
        for digest, data in IMAGE.blobs.items():
            r = c.post(f"/v2/{REPO}/blobs/uploads/?digest={digest}", content=data,
                       headers=headers)
            assert r.status_code == 201, r.text
        r = c.put(f"/v2/{REPO}/manifests/v1", content=IMAGE.manifest,
                  headers={**headers, "Content-Type": IMAGE.media_type})
        assert r.status_code == 201, r.text
        yield c, headers


def _upload(client: TestClient, headers: dict[str, str]) -> str:
    r = client.post(f"/v2/{REPO}/blobs/uploads/", headers=headers)
    assert r.status_code == 202, r.text
    return r.headers["location"].rsplit("/", 1)[-1].split("?")[0]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_no_query_string_makes_a_server_error(client: tuple[TestClient, dict[str, str]],
                                              route: tuple[str, str, tuple[str, ...]]) -> None:
    app, headers = client
    method, template, parameters = route

    @settings(max_examples=120 if parameters else 25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(query=queries(parameters), authorized=st.booleans() if headers else st.just(True),
           body=st.sampled_from([b"", b"x" * 10, IMAGE.manifest]))
    def check(query: str, authorized: bool, body: bytes) -> None:
        path = template.replace("{upload}", _upload(app, headers)) if "{upload}" in template \
            else template
        sent = dict(headers) if authorized else {}
        if method in ("PUT", "PATCH", "POST") and body:
            sent["Content-Type"] = IMAGE.media_type if "manifests" in path else \
                "application/octet-stream"
        r = app.request(method, f"{path}?{query}", headers=sent,
                        content=body if method in ("PUT", "PATCH", "POST") else None)
        assert r.status_code < 500, (method, path, query, r.status_code, r.text[:300])

    check()


def test_the_image_is_still_whole(client: tuple[TestClient, dict[str, str]]) -> None:
    """Nothing the fuzzing sent damaged what was there."""
    app, headers = client
    r = app.get(f"/v2/{REPO}/manifests/v1", headers={**headers, "Accept": IMAGE.media_type})
    assert r.status_code == 200 and r.content == IMAGE.manifest
    r = app.get(f"/v2/{REPO}/blobs/{LAYER}", headers=headers)
    assert r.status_code == 200
    assert "sha256:" + hashlib.sha256(r.content).hexdigest() == LAYER
