"""The service's HTTP as clients meet it: versions, docker's error shape and statuses, bad
bodies and parameters, and clients that misbehave without holding up the others."""

from __future__ import annotations

import json
import socket
import time

import pytest

from api.service import Service


def test_ping_head_and_get(service: Service) -> None:
    for method in ("GET", "HEAD"):
        answer = service.request(method, "/_ping")
        assert answer.status == 200
        assert answer.headers["api-version"] == "1.50"
        assert answer.headers["ostype"] == "linux"
        assert answer.body == (b"OK" if method == "GET" else b"")


def test_versions_are_negotiated_as_dockerd(service: Service) -> None:
    assert service.request("GET", "/v1.24/version").json()["ApiVersion"] == "1.50"
    assert service.request("GET", "/v1.50/version").json()["MinAPIVersion"] == "1.24"
    too_new = service.request("GET", "/v1.51/version")
    assert too_new.status == 400
    assert too_new.message == ("client version 1.51 is too new. Maximum supported API "
                               "version is 1.50")
    too_old = service.request("GET", "/v1.12/containers/json")
    assert too_old.status == 400
    assert too_old.message.startswith("client version 1.12 is too old. Minimum supported API "
                                      "version is 1.24")


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("GET", "/nope", 404, "page not found"),
    ("GET", "/containers/nosuch/json", 404, "No such container: nosuch"),
    ("GET", "/images/nosuch:1/json", 404, None),
    ("DELETE", "/images/nosuch:1", 404, None),
    ("POST", "/containers/nosuch/start", 404, "No such container: nosuch"),
    ("GET", "/containers/json?filters=notjson", 400, "invalid filters parameter: not JSON"),
    ("GET", '/containers/json?filters={"bogus":["1"]}', 400, "invalid filter 'bogus'"),
    ("GET", '/images/json?filters={"bogus":["1"]}', 400, "invalid filter 'bogus'"),
    ("GET", "/containers/json?limit=x", 400, None),
    ("POST", "/images/busybox/tag?repo=bad::ref", 400, None),
    ("GET", "/volumes/nosuch", 404, "get nosuch: no such volume"),
    ("GET", "/networks/nosuch", 404, "network nosuch not found"),
    ("POST", "/v1.50/containers/create?name=bad%20name!", 400,
     "Invalid container name (bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
])
def test_errors_have_dockers_shape(service: Service, method: str, path: str, status: int,
                                   message: str | None) -> None:
    body = {"Image": "busybox", "Cmd": ["true"]} if "create" in path else None
    answer = service.request(method, path.replace(" ", "%20"), body)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert isinstance(answer.message, str) and answer.message
    if message is not None:
        assert answer.message == message


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"',
                                  b'{"Image": 5}', b'{"Image": "busybox", "Cmd": 5}',
                                  b'{"Image": "busybox", "Env": [1]}',
                                  b'{"Image": "busybox", "HostConfig": []}',
                                  b'{"Image": "busybox", "HostConfig": {"Memory": "x"}}',
                                  b'{"Image": "busybox", "HostConfig": {"NetworkMode": "br0"}}',
                                  b'{"Image": "UPPER CASE"}', b"\xff\xfe"])
def test_malformed_create_bodies_are_400s(service: Service, body: bytes) -> None:
    before = service.request("GET", "/containers/json?all=1").json()
    answer = service.request("POST", "/containers/create", body,
                             {"Content-Type": "application/json"})
    assert answer.status in (400, 404), answer.body
    assert "message" in answer.json()
    assert service.request("GET", "/containers/json?all=1").json() == before


@pytest.mark.parametrize(("host", "message"), [
    ({"Devices": [{"PathOnHost": "/dev/fuse"}]}, "HostConfig.Devices"),
    ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy 'sometimes'"),
    ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 2}]}, 'invalid argument "bogus=1:2"'),
    ({"Tmpfs": {"relative": ""}}, "invalid mount path: 'relative'"),
    ({"PortBindings": {"80/tcp": [{"HostPort": "70000"}]}}, "invalid hostPort: 70000"),
])
def test_host_config_that_lamina_cannot_honour_is_refused(service: Service, host: dict[str, object],
                                                           message: str) -> None:
    answer = service.request("POST", "/containers/create",
                             {"Image": "busybox", "Cmd": ["true"], "HostConfig": host})
    assert answer.status == 400
    assert answer.message.startswith(message)


def test_oversized_body_is_refused(service: Service) -> None:
    body = json.dumps({"Image": "busybox", "Env": ["X=" + "y" * (1024 * 1024)]}).encode()
    answer = service.request("POST", "/containers/create", body,
                             {"Content-Type": "application/json"})
    assert answer.status == 413
    assert service.request("GET", "/_ping").status == 200


def test_a_chunked_body_that_never_ends_is_cut_off(service: Service) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(str(service.sock))
        sock.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        answer = b""
        try:
            for _ in range(64):  # 4 MiB offered; the service stops reading at 1 MiB
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 413")


def test_slow_and_stalled_clients_do_not_block_others(service: Service) -> None:
    stalled = []
    for head in (b"GET /_ping HTTP/1.1\r\nHo",  # headers that never end
                 b"POST /containers/create HTTP/1.1\r\nContent-Length: 500\r\n\r\n{\"Ima"):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(service.sock))
        sock.sendall(head)
        stalled.append(sock)
    try:
        started = time.monotonic()
        for _ in range(20):
            assert service.request("GET", "/_ping", timeout=10).status == 200
        assert service.request("GET", "/containers/json", timeout=10).status == 200
        assert time.monotonic() - started < 10
    finally:
        for sock in stalled:
            sock.close()


def test_malformed_request_lines_and_headers(service: Service) -> None:
    for raw in (b"NONSENSE\r\n\r\n", b"GET / HTTP/9\r\n\r\n",
                b"GET /_ping HTTP/1.1\r\nno colon here\r\n\r\n",
                b"POST /containers/create HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(service.sock))
            sock.sendall(raw)
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400"), (raw, answer)
        assert b'"message"' in answer
    assert service.request("GET", "/_ping").status == 200


def test_keep_alive_carries_several_requests(service: Service) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(service.sock))
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3:
            more = sock.recv(65536)
            assert more
            data += more


def test_networks_and_volumes(service: Service) -> None:
    names = sorted(n["Name"] for n in service.request("GET", "/networks").json())
    assert names == ["bridge", "host", "none"]
    assert service.request("GET", "/networks/host").json()["Driver"] == "host"
    made = service.request("POST", "/networks/create", {
        "Name": "n1", "Driver": "bridge", "Labels": {"a": "b"},
        "IPAM": {"Config": [{"Subnet": "10.123.0.0/24"}]}})
    assert made.status == 201, made.body
    shown = service.request("GET", "/networks/n1").json()
    assert shown["Id"] == made.json()["Id"] and shown["Labels"] == {"a": "b"}
    assert shown["IPAM"]["Config"] == [{"Subnet": "10.123.0.0/24", "Gateway": "10.123.0.1"}]
    again = service.request("POST", "/networks/create", {"Name": "n1"})
    assert again.status == 409 and again.message == "network with name n1 already exists"
    plugin = service.request("POST", "/networks/create", {"Name": "n2", "Driver": "weave"})
    assert plugin.status == 404 and plugin.message == 'plugin "weave" not found'
    assert service.request("DELETE", "/networks/n1").status == 204
    assert service.request("GET", "/volumes").json() == {"Volumes": [], "Warnings": None}
    volume = service.request("POST", "/volumes/create", {"Name": "v1", "Labels": {"x": "y"}})
    assert volume.status == 201 and volume.json()["Labels"] == {"x": "y"}
    assert [v["Name"] for v in service.request("GET", "/volumes").json()["Volumes"]] == ["v1"]
    bad = service.request("POST", "/volumes/create", {"Name": "a/b"})
    assert bad.status == 400 and "includes invalid characters" in bad.message
    assert service.request("DELETE", "/volumes/v1").status == 204
    assert service.request("GET", "/volumes/v1").status == 404


def test_socket_is_private(service: Service) -> None:
    assert service.sock.stat().st_mode & 0o777 == 0o600


def test_image_list_follows_changes_from_the_cli_and_the_api(service: Service) -> None:
    def tags() -> set[str]:
        return {t for image in service.request("GET", "/images/json").json()
                for t in image["RepoTags"]}

    assert "proto-cli:1" not in tags()
    service.lamina("tag", "busybox", "proto-cli:1")  # another process, the same store
    assert "proto-cli:1" in tags()
    assert service.request("POST", "/images/busybox/tag?repo=proto-api&tag=1").status == 201
    assert {"proto-cli:1", "proto-api:1"} <= tags()
    service.lamina("rmi", "proto-cli:1")
    assert service.request("DELETE", "/images/proto-api:1").status == 200
    assert not {"proto-cli:1", "proto-api:1"} & tags()

    # a container made and removed changes the image's count (the listing, remade after
    # each change, is never the one from before it)
    def containers() -> int:
        return sum(image["Containers"] for image in service.request("GET", "/images/json").json()
                   if "busybox:latest" in image["RepoTags"])

    before = containers()
    made = service.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
    assert made.status == 201
    assert containers() == before + 1
    assert service.request("DELETE", f"/containers/{made.json()['Id']}").status == 204
    assert containers() == before


def _hijack(service: Service, path: str, body: dict[str, object]) -> socket.socket:
    """POST with ``Upgrade: tcp``, as docker's client starts an attach or exec; the socket
    after the 101 answer, carrying raw bytes both ways."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(str(service.sock))
    data = json.dumps(body).encode()
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                 .encode() + data)
    head = b""
    while b"\r\n\r\n" not in head:
        more = sock.recv(1)
        assert more, head
        head += more
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        more = sock.recv(65536)
        assert more, data
        data += more
    return data


def test_exec_with_a_tty_detaches_on_its_keys(service: Service) -> None:
    """The service itself watches an exec's tty input for the detach keys (a client other
    than docker's CLI may rely on it): it lets go of the connection, and the command runs
    on. Without a tty the same bytes are input like any other."""
    created = service.request("POST", "/containers/create?name=proto-exec",
                              {"Image": "busybox", "Cmd": ["sleep", "120"]})
    assert created.status == 201, created.body
    cid = created.json()["Id"]
    try:
        assert service.request("POST", f"/containers/{cid}/start").status == 204
        made = service.request("POST", f"/containers/{cid}/exec", {
            "Cmd": ["sh"], "Tty": True, "AttachStdin": True, "AttachStdout": True,
            "DetachKeys": "ctrl-x,x", "ConsoleSize": [33, 44]})
        exec_id = made.json()["Id"]
        with _hijack(service, f"/exec/{exec_id}/start", {"Tty": True}) as sock:
            sock.sendall(b"stty size\n")
            assert b"33 44" in _read_until(sock, b"33 44")
            sock.sendall(b"\x18x")  # ctrl-x, x
            rest = b""
            while more := sock.recv(65536):  # the service closes the connection
                rest += more
        shown = service.request("GET", f"/exec/{exec_id}/json").json()
        assert shown["Running"] is True and shown["ExitCode"] is None
        piped = service.request("POST", f"/containers/{cid}/exec", {
            "Cmd": ["sh", "-c", "cat | wc -c"], "AttachStdin": True, "AttachStdout": True,
            "DetachKeys": "ctrl-x,x"}).json()["Id"]
        with _hijack(service, f"/exec/{piped}/start", {}) as sock:
            sock.sendall(b"a\x18xb\n")
            sock.shutdown(socket.SHUT_WR)
            # a multiplexed frame: stdout (1), then the count of the bytes cat was given
            assert _read_until(sock, b"5\n").endswith(b"\x01\x00\x00\x00\x00\x00\x00\x025\n")
        bad = service.request("POST", f"/containers/{cid}/exec",
                              {"Cmd": ["sh"], "DetachKeys": "ctrl-1"})
        assert bad.status == 400 and bad.message == "Invalid escape keys (ctrl-1) provided"
        size = service.request("POST", f"/containers/{cid}/exec",
                               {"Cmd": ["sh"], "ConsoleSize": [1]})
        assert size.status == 400 and "ConsoleSize" in size.message
    finally:
        service.request("DELETE", f"/containers/{cid}?force=1")


@pytest.mark.parametrize(("header", "value", "message"), [
    ("X-Registry-Config", "YQ", "invalid X-Registry-Config header: not base64 JSON"),
    ("X-Registry-Config", "WzFd", "invalid X-Registry-Config header: not a JSON object"),
    ("X-Registry-Config", "eyJhIjogMX0", "invalid X-Registry-Config header: an entry is not "
                                          "an object"),
])
def test_bad_build_headers_are_400s(service: Service, header: str, value: str,
                                    message: str) -> None:
    answer = service.request("POST", "/build?t=proto-bad:1", b"", {header: value})
    assert (answer.status, answer.message) == (400, message)
