"""Real client libraries against the service: docker-py, testcontainers-python and
python-on-whales (which drives the docker CLI)."""

from __future__ import annotations

import io
import tarfile
import time

import pytest

from api.service import DOCKER, Service

docker_py = pytest.importorskip("docker")


@pytest.fixture
def client(service: Service):  # type: ignore[no-untyped-def]
    c = docker_py.DockerClient(base_url=f"unix://{service.sock}", version="auto", timeout=60)
    yield c
    c.close()


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1704067200
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_docker_py_negotiates_and_lists(client) -> None:  # type: ignore[no-untyped-def]
    assert client.ping() is True
    assert client.api.api_version == "1.50"
    tags = [t for image in client.images.list() for t in image.tags]
    assert "busybox:latest" in tags
    assert client.images.get("busybox").id.startswith("sha256:")
    with pytest.raises(docker_py.errors.ImageNotFound):
        client.images.get("no-such-image")
    with pytest.raises(docker_py.errors.NotFound):
        client.containers.get("no-such-container")


def test_docker_py_run_logs_exec_archive(client) -> None:  # type: ignore[no-untyped-def]
    container = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo line$i;"
                                                  " sleep 0.2; done; sleep 60"],
                                      detach=True, name="py-box")
    try:
        streamed = []
        for chunk in container.logs(stream=True, follow=True):
            streamed.append(chunk)
            if b"line3" in b"".join(streamed):
                break
        assert b"".join(streamed) == b"line1\nline2\nline3\n"
        container.reload()
        assert container.status == "running"
        code, output = container.exec_run(["sh", "-c", "echo from-exec; exit 2"])
        assert (code, output) == (2, b"from-exec\n")
        code, output = container.exec_run("id -u", user="1000")
        assert (code, output) == (0, b"1000\n")
        assert container.put_archive("/tmp", _tar({"hello.txt": b"put archive\n"})) is True
        code, output = container.exec_run("cat /tmp/hello.txt")
        assert output == b"put archive\n"
        bits, stat = container.get_archive("/tmp/hello.txt")
        assert stat["name"] == "hello.txt" and stat["size"] == 12
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
            member = tar.extractfile("hello.txt")
            assert member is not None and member.read() == b"put archive\n"
        container.stop(timeout=1)
        assert container.wait(timeout=30)["StatusCode"] in (137, 143)
    finally:
        container.remove(force=True)


def test_docker_py_run_attached_returns_output(client) -> None:  # type: ignore[no-untyped-def]
    out = client.containers.run("busybox", ["sh", "-c", "echo attached"], remove=True)
    assert out == b"attached\n"
    with pytest.raises(docker_py.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "exit 5"], remove=True)
    assert failed.value.exit_status == 5


def test_docker_py_build_with_a_fileobj(client) -> None:  # type: ignore[no-untyped-def]
    dockerfile = io.BytesIO(b"FROM busybox\nRUN echo py-built > /x\nCMD [\"cat\", \"/x\"]\n")
    image, logs = client.images.build(fileobj=dockerfile, tag="py-built:1", rm=True)
    assert "py-built:1" in image.tags
    assert any("Successfully" in entry.get("stream", "") for entry in logs)
    assert client.containers.run("py-built:1", remove=True) == b"py-built\n"
    with pytest.raises(docker_py.errors.BuildError):
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 3\n"))


def test_docker_py_pull_from_a_registry(client, service: Service,  # type: ignore[no-untyped-def]
                                        lamina_registry) -> None:
    name = f"{lamina_registry.host}/py/bb"
    client.images.get("busybox").tag(name, "v1")
    for line in client.images.push(name, tag="v1", stream=True, decode=True):
        assert "error" not in line, line
    client.images.remove(f"{name}:v1")
    image = client.images.pull(name, tag="v1")
    assert f"{name}:v1" in image.tags
    with pytest.raises(docker_py.errors.NotFound):
        client.images.pull(f"{lamina_registry.host}/py/missing", tag="v1")


def test_docker_py_events(client) -> None:  # type: ignore[no-untyped-def]
    since = int(time.time()) - 1
    client.containers.run("busybox", "true", remove=True, name="py-events")
    until = int(time.time()) + 1
    seen = [(e["Type"], e["Action"]) for e in client.api.events(
        since=since, until=until, decode=True, filters={"container": "py-events"})]
    assert seen == [("container", "create"), ("container", "start"), ("container", "die"),
                    ("container", "destroy")]


def test_testcontainers_container_with_wait_for_logs(service: Service,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """testcontainers-python against the service. Its reaper (Ryuk) is an image that cannot be
    pulled here (no Docker Hub), so TESTCONTAINERS_RYUK_DISABLED=true turns it off; the
    container is removed by the context manager instead."""
    pytest.importorskip("testcontainers")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{service.sock}")
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer("busybox").with_command(
        ["sh", "-c", "sleep 0.5; echo ready to serve; sleep 60"])
    with container:
        started = time.monotonic()
        wait_for_logs(container, "ready to serve", timeout=30)
        assert time.monotonic() - started < 30
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        assert wrapped.status == "running"
        code, out = container.exec(["echo", "tc-exec"])
        assert (code, out) == (0, b"tc-exec\n")
        cid = wrapped.id
    listed = service.request("GET", "/containers/json?all=1").json()
    assert cid not in [c["Id"] for c in listed]


def test_python_on_whales_smoke(service: Service) -> None:
    if DOCKER is None:
        pytest.skip("needs the docker CLI")
    whales = pytest.importorskip("python_on_whales")
    client = whales.DockerClient(host=f"unix://{service.sock}",
                                 config=str(service.config))
    assert client.version().server.api_version == "1.50"
    assert client.run("busybox", ["echo", "whales"], remove=True).strip() == "whales"
    box = client.run("busybox", ["sleep", "60"], detach=True, name="whale-box")
    try:
        assert box.state.running
        assert client.execute(box, ["echo", "inside"]).strip() == "inside"
        assert [c.name for c in client.ps()] == ["whale-box"]
    finally:
        client.remove(box, force=True)
    assert "busybox" in [t.split(":")[0] for i in client.image.list() for t in i.repo_tags]


def test_docker_py_stats_streamed_and_one_shot(client) -> None:  # type: ignore[no-untyped-def]
    container = client.containers.run("busybox", ["sleep", "60"], detach=True,
                                      name="py-stats")
    try:
        stream = container.stats(stream=True, decode=True)
        first, second = next(stream), next(stream)
        stream.close()
        # each reading carries the one before it, from which docker's CLI computes CPU %
        assert second["preread"] == first["read"]
        assert second["precpu_stats"] == first["cpu_stats"]
        assert second["pids_stats"]["current"] == 1  # the sleep
        once = container.stats(stream=False, one_shot=True)
        assert once["name"] == "/py-stats" and once["memory_stats"]["usage"] > 0
        assert once["preread"] == "0001-01-01T00:00:00Z"  # one-shot: no earlier reading
    finally:
        container.remove(force=True)
