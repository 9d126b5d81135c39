"""The registry as a cluster: stateless replicas on one PostgreSQL and one S3 bucket (SeaweedFS)
behind HAProxy, round robin with no stickiness. Real clients push and pull through it, replicas
share token auth, and the settings of a replica come from the environment alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from helpers.images import make_image, make_index, write_oci_layout
from lamina.registry.auth.htpasswd import set_user

from .cluster import (
    PG_PASSWORD,
    S3_SECRET,
    HAProxy,
    PostgresCluster,
    SeaweedFS,
    lamina_cluster,
    s3_env,
    start_all,
)
from .conformance import ACCEPT_ALL, http_client, pull_complete, push_image
from .servers import Server, free_port

pytestmark = [pytest.mark.peer, pytest.mark.slow]


@dataclass
class Cluster:
    proxy: HAProxy
    servers: list[Server]
    dsn: str
    bucket: str
    tmp: Path


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, seaweed: SeaweedFS
) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    with lamina_cluster(tmp, dsn, seaweed.endpoint, bucket, replicas=3) as (proxy, servers):
        assert proxy is not None
        yield Cluster(proxy, servers, dsn, bucket, tmp)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    amd64 = make_image(
        [{"etc/hello": b"hello\n"}, {"usr/bin/tool": b"\x7fELF" + os.urandom(3 << 20)}]
    )
    arm64 = make_image([{"etc/hello": b"hallo\n"}], {"architecture": "arm64", "variant": "v8"})
    root = tmp_path_factory.mktemp("layout") / "oci"
    write_oci_layout(root, [(amd64, "single"), (make_index([amd64, arm64]), "multi")])
    return root


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def lamina(store: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LAMINA_ROOT=str(store))
    return subprocess.run(
        [sys.executable, "-m", "lamina", *argv],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """podman wants its runroot shorter than 50 characters: pytest's paths are longer."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="lp-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def podman(tmp: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    base = [
        "podman", "--root", str(tmp / "root"), "--runroot", str(tmp / "run"),
        "--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs",
    ]  # fmt: skip
    return subprocess.run([*base, *argv], capture_output=True, text=True, timeout=120, check=False)


def check_dir_copy(out: Path) -> None:
    """Every blob skopeo wrote checks out against its digest."""
    blobs = [p for p in out.iterdir() if len(p.name) == 64]
    assert len(blobs) >= 3
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
def test_skopeo_pushes_and_pulls_through_three_replicas(
    cluster: Cluster, layout: Path, tmp_path: Path
) -> None:
    host = cluster.proxy.host
    for tag in ("single", "multi"):
        skopeo("copy", "-q", "--dest-tls-verify=false", "--all", "--preserve-digests",
               f"oci:{layout}:{tag}", f"docker://{host}/cl/skopeo:{tag}")  # fmt: skip
        out = tmp_path / tag
        skopeo("copy", "-q", "--src-tls-verify=false", "--all", "--preserve-digests",
               f"docker://{host}/cl/skopeo:{tag}", f"dir:{out}")  # fmt: skip
        check_dir_copy(out)
    tags = skopeo("list-tags", "--tls-verify=false", f"docker://{host}/cl/skopeo")
    assert sorted(json.loads(tags.stdout)["Tags"]) == ["multi", "single"]


@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")
def test_podman_pushes_and_pulls_through_three_replicas(
    cluster: Cluster, layout: Path, short_tmp: Path
) -> None:
    host = cluster.proxy.host
    skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:single",
           f"docker://{host}/cl/for-podman:v1")  # fmt: skip
    done = podman(short_tmp, "pull", "-q", "--tls-verify=false", f"{host}/cl/for-podman:v1")
    assert done.returncode == 0, done.stderr
    done = podman(short_tmp, "push", "-q", "--tls-verify=false", f"{host}/cl/for-podman:v1",
                  f"docker://{host}/cl/podman:v1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    with http_client(cluster.proxy.url) as client:
        pull_complete(client, "cl/podman", "v1", ACCEPT_ALL)


def test_lamina_pushes_and_pulls_through_three_replicas(
    cluster: Cluster, layout: Path, tmp_path: Path
) -> None:
    host = cluster.proxy.host
    skopeo("copy", "-q", "--dest-tls-verify=false", "--all", f"oci:{layout}:multi",
           f"docker://{host}/cl/for-lamina:v1")  # fmt: skip
    store = tmp_path / "store"
    done = lamina(store, "pull", "-q", f"{host}/cl/for-lamina:v1")
    assert done.returncode == 0, done.stderr
    assert lamina(store, "tag", f"{host}/cl/for-lamina:v1", f"{host}/cl/lamina:v2").returncode == 0
    done = lamina(store, "push", f"{host}/cl/lamina:v2")
    assert done.returncode == 0, done.stderr
    with http_client(cluster.proxy.url) as client:
        pull_complete(client, "cl/lamina", "v2", ACCEPT_ALL)
    # And back into a fresh store, through whichever replicas answer.
    done = lamina(tmp_path / "again", "pull", "-q", f"{host}/cl/lamina:v2")
    assert done.returncode == 0, done.stderr


def test_credentials_never_reach_logs_or_metrics(cluster: Cluster) -> None:
    with http_client(cluster.proxy.url) as client:
        client.get("/v2/cl/nothing/manifests/latest")
        metrics = "".join(client.get("/metrics").text for _ in cluster.servers)
    logs = "".join(s.log_path.read_text() for s in cluster.servers if s.log_path)
    # The start-up line names both backends, without their credentials.
    assert "serving postgresql at 127.0.0.1:" in logs and f"s3 bucket {cluster.bucket}" in logs
    for secret in (PG_PASSWORD, S3_SECRET):
        assert secret not in metrics and secret not in logs


def test_token_auth_and_settings_from_the_environment_across_replicas(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS, layout: Path
) -> None:
    """Replicas with no config file: every setting, the token signing key included, comes
    from LAMINA_REGISTRY_* variables. A token one replica issues works on every other."""
    from lamina.registry.auth.token import generate_key, key_to_pem

    htpasswd = tmp_path / "htpasswd"
    set_user(htpasswd, "alice", "s3cret!", rounds=4)
    env = s3_env() | {
        "LAMINA_REGISTRY_METADATA_KIND": "postgres",
        "LAMINA_REGISTRY_METADATA_DSN": postgres.create_database(),
        "LAMINA_REGISTRY_STORAGE_DRIVER": "s3",
        "LAMINA_REGISTRY_STORAGE_ENDPOINT": seaweed.endpoint,
        "LAMINA_REGISTRY_STORAGE_BUCKET": seaweed.create_bucket(),
        "LAMINA_REGISTRY_STORAGE_PATH_STYLE": "true",
        "LAMINA_REGISTRY_AUTH_KIND": "token",
        "LAMINA_REGISTRY_AUTH_HTPASSWD": str(htpasswd),
        "LAMINA_REGISTRY_AUTH_TOKEN_KEY_PEM": key_to_pem(generate_key()).decode(),
        "LAMINA_REGISTRY_AUTH_ACCESS": json.dumps(
            [{"account": "alice", "name": "team/**", "actions": ["*"]}]
        ),
        "LAMINA_REGISTRY_LOG_REQUESTS": "false",
    }
    servers = []
    for i in range(3):
        port = free_port()
        argv = [sys.executable, "-m", "lamina", "registry", "serve", "--root",
                str(tmp_path / f"r{i}"), "--addr", f"127.0.0.1:{port}"]  # fmt: skip
        servers.append(Server(argv, port, env=env))
    try:
        start_all(servers, tmp_path)
        with HAProxy(tmp_path / "haproxy", [s.port for s in servers]) as proxy:
            skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret!",
                   f"oci:{layout}:single", f"docker://{proxy.host}/team/app:v1")  # fmt: skip
            # A token from replica 0 is honoured by replicas 1 and 2.
            r = httpx.get(
                f"{servers[0].url}/token",
                params={"service": "lamina-registry", "scope": "repository:team/app:pull"},
                auth=("alice", "s3cret!"),
            )
            assert r.status_code == 200, r.text
            token = r.json()["token"]
            for server in servers[1:]:
                r = httpx.get(
                    f"{server.url}/v2/team/app/manifests/v1",
                    headers={"Authorization": f"Bearer {token}", **ACCEPT_ALL},
                )
                assert r.status_code == 200, r.text
                assert httpx.get(f"{server.url}/v2/team/app/manifests/v1").status_code == 401
            out = tmp_path / "out"
            skopeo("copy", "-q", "--src-tls-verify=false", "--src-creds", "alice:s3cret!",
                   f"docker://{proxy.host}/team/app:v1", f"dir:{out}")  # fmt: skip
            check_dir_copy(out)
    finally:
        for server in servers:
            server.stop()


def test_blob_get_redirects_to_a_presigned_url(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS, layout: Path
) -> None:
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    storage = {"driver": "s3", "endpoint": seaweed.endpoint, "bucket": bucket, "redirect": True}
    with lamina_cluster(tmp_path, dsn, seaweed.endpoint, bucket, replicas=1, storage=storage) as (
        _,
        servers,
    ):
        image = make_image([{"f": os.urandom(100_000)}])
        with http_client(servers[0].url) as client:
            push_image(client, "redir/app", image, "v1")
            layer = image.layer_digests[0]
            r = client.get(f"/v2/redir/app/blobs/{layer}")
            assert r.status_code == 307
            location = r.headers["location"]
            assert location.startswith(seaweed.endpoint) and S3_SECRET not in location
            assert r.headers["docker-content-digest"] == layer
            fetched = httpx.get(location, timeout=30)
            assert hashlib.sha256(fetched.content).hexdigest() == layer.split(":")[1]
            h = client.head(f"/v2/redir/app/blobs/{layer}")  # HEAD answers itself
            assert h.status_code == 200 and h.headers["content-length"] == str(len(fetched.content))
        if shutil.which("skopeo"):
            host = servers[0].host
            skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:single",
                   f"docker://{host}/redir/skopeo:v1")  # fmt: skip
            out = tmp_path / "out"
            skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{host}/redir/skopeo:v1",
                   f"dir:{out}")  # fmt: skip
            check_dir_copy(out)


def test_unreachable_backends_at_start_are_one_line(tmp_path: Path, seaweed: SeaweedFS) -> None:
    from .cluster import write_toml

    pg_port, s3_port = free_port(), free_port()
    for name, data, where in [
        ("pg", {"metadata": {"kind": "postgres",
                             "dsn": f"host=127.0.0.1 port={pg_port} user=x password=hunter2"}},
         f"127.0.0.1:{pg_port}"),
        ("s3", {"storage": {"driver": "s3", "endpoint": f"http://127.0.0.1:{s3_port}",
                            "bucket": "b", "secret_key": "hunter2", "access_key": "k"}},
         f"127.0.0.1:{s3_port}"),
        ("bucket", {"storage": {"driver": "s3", "endpoint": seaweed.endpoint,
                                "bucket": "no-such-bucket"}}, "no-such-bucket"),
    ]:  # fmt: skip
        config = write_toml(tmp_path / f"{name}.toml", data)
        done = subprocess.run(
            [sys.executable, "-m", "lamina", "registry", "serve", "--root", str(tmp_path / name),
             "--addr", f"127.0.0.1:{free_port()}", "--config", str(config)],
            capture_output=True, text=True, timeout=60, env=s3_env(),
        )  # fmt: skip
        assert done.returncode != 0
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and where in lines[0], done.stderr
        assert "Traceback" not in done.stderr and "hunter2" not in done.stderr


def test_gc_command_on_the_cluster_config(cluster: Cluster) -> None:
    """``lamina registry gc --config`` with a replica's file, while the replicas serve; the
    grace period from the environment."""
    kept = make_image([{"kept": os.urandom(50_000)}])
    dropped = make_image([{"dropped": os.urandom(50_000)}])
    with http_client(cluster.proxy.url) as client:
        push_image(client, "cl/gc", kept, "kept")
        push_image(client, "cl/gc", dropped, "dropped")
        assert client.delete("/v2/cl/gc/manifests/dropped").status_code == 202
    env = s3_env() | {"LAMINA_REGISTRY_GC_GRACE_SECONDS": "0"}

    def gc(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lamina", "registry", "gc", "--delete-untagged", *flags,
             "--config", str(cluster.tmp / "replica.toml")],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip

    # A dry run names the manifest and every blob a run would remove, and removes nothing.
    done = gc("--dry-run")
    assert done.returncode == 0, done.stderr
    listed = set(done.stdout.splitlines()[:-1])
    assert f"manifest cl/gc@{dropped.manifest_digest}" in listed, done.stdout
    for blob in dropped.blobs:
        assert f"blob {blob}" in listed, done.stdout
    assert not {f"blob {blob}" for blob in kept.blobs} & listed
    with http_client(cluster.proxy.url) as client:
        r = client.get(f"/v2/cl/gc/manifests/{dropped.manifest_digest}", headers=ACCEPT_ALL)
        assert r.status_code == 200
        assert client.get(f"/v2/cl/gc/blobs/{dropped.layer_digests[0]}").status_code == 200
    done = gc()
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout and "0 manifests" not in done.stdout, done.stdout
    with http_client(cluster.proxy.url) as client:
        pull_complete(client, "cl/gc", "kept", ACCEPT_ALL)
        r = client.get(f"/v2/cl/gc/manifests/{dropped.manifest_digest}", headers=ACCEPT_ALL)
        assert r.status_code == 404
        r = client.get(f"/v2/cl/gc/blobs/{dropped.layer_digests[0]}")
        assert r.status_code == 404


def test_a_blob_lost_from_s3_is_a_503_never_other_bytes(
    cluster: Cluster, seaweed: SeaweedFS
) -> None:
    """The metadata says the blob is there, the store lost it: the answer is the spec's error
    with a 503, on every replica, and the manifest that names it still serves."""
    image = make_image([{"lost": os.urandom(20_000)}])
    layer = image.layer_digests[0]
    with http_client(cluster.proxy.url) as client:
        push_image(client, "cl/lost", image, "v1")
    s3 = seaweed.client()
    listed = s3.list_objects_v2(Bucket=cluster.bucket, Prefix="objects/")["Contents"]
    (key,) = [
        o["Key"]
        for o in listed
        if hashlib.sha256(s3.get_object(Bucket=cluster.bucket, Key=o["Key"])["Body"].read())
        .hexdigest() == layer.split(":")[1]
    ]
    s3.delete_object(Bucket=cluster.bucket, Key=key)
    for server in cluster.servers:
        with http_client(server.url) as client:
            r = client.get(f"/v2/cl/lost/blobs/{layer}")
            assert r.status_code == 503
            assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
            assert client.get("/v2/cl/lost/manifests/v1", headers=ACCEPT_ALL).status_code == 200
