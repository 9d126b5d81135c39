"""Pushes to real registries on loopback: monolithic and streamed uploads, skips, mounts, and
the CNCF registry behind htpasswd with docker's config.json credentials."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.images import make_image, tar_directory, write_oci_layout
from lamina.engine.archives import load
from lamina.engine.pull import PullEvent, pull
from lamina.engine.push import push
from lamina.errors import Denied, NotFound, Unauthorized
from lamina.model.reference import Reference
from lamina.registry.auth.htpasswd import set_user
from lamina.remote.options import RemoteOptions
from lamina.store import Store
from registry.servers import Server, cncf_server

pytestmark = pytest.mark.peer


def load_into(store: Store, tmp_path: Path, image: object, name: str) -> None:
    layout = write_oci_layout(tmp_path / f"layout-{abs(hash(name))}", [image])  # type: ignore[list-item]
    archive = tmp_path / f"{abs(hash(name))}.tar"
    archive.write_bytes(tar_directory(layout))
    with archive.open("rb") as f:
        load(store, f)
    store.tag(image.config_digest, Reference.parse(name))  # type: ignore[attr-defined]


def statuses(store: Store, name: str, options: RemoteOptions) -> tuple[list[str], list]:
    lines: list[str] = []

    def record(event: PullEvent) -> None:
        if event.status != "Pushing":
            lines.append(f"{event.id}: {event.status}" if event.id else event.status)

    return lines, push(store, name, options, progress=record)


@pytest.mark.parametrize("server", ["cncf", "lamina_registry"])
def test_streamed_upload_of_a_big_layer(request: pytest.FixtureRequest, server: str,
                                        store: Store, options: RemoteOptions,
                                        tmp_path: Path) -> None:
    """A layer above the monolithic limit goes up as one streamed PATCH and a PUT."""
    registry: Server = request.getfixturevalue(server)
    noise = random.Random(3).randbytes(9 * 1024 * 1024)
    image = make_image([{"noise": noise}, {"small": b"s"}])
    name = f"{registry.host}/push/big:1"
    load_into(store, tmp_path, image, name)
    lines, [result] = statuses(store, name, options)
    assert result.digest == image.manifest_digest
    assert result.size == len(image.manifest)
    assert lines[0] == f"The push refers to repository [{registry.host}/push/big]"
    for digest in image.layer_digests:
        assert f"{digest[7:19]}: Pushed" in lines
    # Pulled back into another store: the same image, byte for byte.
    with Store(tmp_path / "other") as other:
        [pulled] = pull(other, name, options)
        assert pulled.image_id == image.config_digest
        assert pulled.digest == image.manifest_digest
        big = other.snapshots.path(other.resolve(name).layers[0].chain_id)
        assert (big / "noise").read_bytes() == noise


def test_skips_and_mounts(cncf: Server, store: Store, options: RemoteOptions,
                          tmp_path: Path) -> None:
    image = make_image([{"m": b"m" * 1000}, {"n": b"n"}])
    first, second = f"{cncf.host}/mounts/first:1", f"{cncf.host}/mounts/second:1"
    load_into(store, tmp_path, image, first)
    store.tag(image.config_digest, Reference.parse(second))
    push(store, first, options)
    lines, _ = statuses(store, first, options)
    assert all(f"{d[7:19]}: Layer already exists" in lines for d in image.layer_digests)
    lines, [result] = statuses(store, second, options)
    assert all(f"{d[7:19]}: Mounted from mounts/first" in lines for d in image.layer_digests)
    assert result.digest == image.manifest_digest
    record = store.resolve(second)
    assert f"{cncf.host}/mounts/second@{image.manifest_digest}" in record.repo_digests


def test_push_all_tags(cncf: Server, store: Store, options: RemoteOptions,
                       tmp_path: Path) -> None:
    one, two = make_image([{"t": b"1"}]), make_image([{"t": b"2"}])
    load_into(store, tmp_path, one, f"{cncf.host}/alltags/repo:one")
    load_into(store, tmp_path, two, f"{cncf.host}/alltags/repo:two")
    results = push(store, f"{cncf.host}/alltags/repo", options, all_tags=True)
    assert [(r.reference.tag, r.digest) for r in results] == [
        ("one", one.manifest_digest), ("two", two.manifest_digest)]
    with pytest.raises(NotFound):
        push(store, f"{cncf.host}/alltags/none", options, all_tags=True)


@pytest.fixture(scope="module")
def cncf_htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("cncf-auth")
    htpasswd = root / "htpasswd"
    set_user(htpasswd, "alice", "wonderland", rounds=4)
    with cncf_server(root / "registry", htpasswd=htpasswd) as server:
        server.start()
        yield server


def test_htpasswd_with_docker_config_credentials(cncf_htpasswd: Server, store: Store,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    options = RemoteOptions(retries=1, backoff=0.01, certs_dirs=())
    image = make_image([{"secret": b"s"}])
    name = f"{cncf_htpasswd.host}/private/img:1"
    load_into(store, tmp_path, image, name)
    with pytest.raises((Denied, Unauthorized)) as info:
        push(store, name, options)
    assert cncf_htpasswd.host in str(info.value)
    config = tmp_path / "docker-config"
    config.mkdir(exist_ok=True)
    auth = base64.b64encode(b"alice:wonderland").decode()
    (config / "config.json").write_text(json.dumps({"auths": {cncf_htpasswd.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    [pushed] = push(store, name, options)
    assert pushed.digest == image.manifest_digest
    with Store(tmp_path / "other") as other:
        [pulled] = pull(other, name, options)
        assert pulled.image_id == image.config_digest


def test_token_auth_registry(store: Store, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """lamina's registry handing out Bearer tokens: push and pull with a login, and an
    anonymous pull refused."""
    from registry.servers import lamina_server

    set_user(tmp_path / "users", "bob", "builder", rounds=4)
    config = tmp_path / "registry.toml"
    config.write_text(f'[auth]\nkind = "token"\nhtpasswd = "{tmp_path / "users"}"\n')
    options = RemoteOptions(retries=1, backoff=0.01, certs_dirs=())
    with lamina_server(tmp_path / "root", config=config) as server:
        server.start(tmp_path / "server.log")
        image = make_image([{"token": b"t" * 100}, {"more": b"m"}])
        name = f"{server.host}/team/app:1"
        load_into(store, tmp_path, image, name)
        docker_config = tmp_path / "docker-config"
        docker_config.mkdir(exist_ok=True)
        auth = base64.b64encode(b"bob:builder").decode()
        (docker_config / "config.json").write_text(
            json.dumps({"auths": {server.host: {"auth": auth}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
        [pushed] = push(store, name, options)
        assert pushed.digest == image.manifest_digest
        with Store(tmp_path / "other") as other:
            [pulled] = pull(other, name, options)
            assert pulled.image_id == image.config_digest
            monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nobody"))
            with pytest.raises(Denied, match="pull access denied"):
                pull(other, f"{server.host}/team/app:1", options)
