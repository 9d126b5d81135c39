"""``lamina registry migrate``: the embedded default copied to PostgreSQL and S3, served from
there by a replica, the source untouched; a corrupt blob stops it with one line, and running it
again after the fix carries on."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.images import make_image, make_index
from lamina.registry.config import RegistryConfig
from lamina.registry.storage import FilesystemDriver

from .cluster import PostgresCluster, SeaweedFS, lamina_cluster, s3_env, write_toml
from .conformance import (
    ACCEPT_ALL,
    http_client,
    in_process,
    pull_complete,
    push_blob,
    push_image,
    sha256,
)

pytestmark = [pytest.mark.slow]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def migrate(source: Path, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamina", "registry", "migrate", "--from", str(source),
         "--to", str(target)],
        capture_output=True, text=True, timeout=300, env=s3_env(),
    )  # fmt: skip


def snapshot(root: Path) -> dict[str, str]:
    """Everything in an embedded registry: each file's hash and each table's rows."""
    out = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (root / "storage").rglob("*")
        if p.is_file()
    }
    with sqlite3.connect(root / "registry.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows = sorted(map(repr, db.execute(f"SELECT * FROM {table}").fetchall()))
            out[f"table {table}"] = repr(rows)
    return out


def test_migrate_embedded_to_postgres_and_s3(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS
) -> None:
    source_root = tmp_path / "embedded"
    config = RegistryConfig(root=source_root, log_requests=False)
    big = make_image([{"big": os.urandom(11 << 20)}])  # larger than one S3 part
    small = make_image([{"etc/hello": b"hello"}])
    arm = make_image([{"etc/hello": b"hallo"}], {"architecture": "arm64"})
    index = make_index([small, arm])
    with in_process(config) as client:
        push_image(client, "team/big", big, "v1")
        push_image(client, "team/multi", index, "v1")
        push_image(client, "team/multi", small, "small")  # shares blobs with the index
        # A referrer of the index, and a blob mounted into a third repository.
        raw = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": sha256(b"{}"), "size": 2},
            "layers": [], "subject": {"mediaType": index.media_type, "digest": index.digest,
                                      "size": len(index.index)},
        }).encode()  # fmt: skip
        push_blob(client, "team/multi", b"{}")
        r = client.put(
            f"/v2/team/multi/manifests/{sha256(raw)}",
            content=raw,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text
        layer = big.layer_digests[0]
        r = client.post(f"/v2/other/blobs/uploads/?mount={layer}&from=team/big")
        assert r.status_code == 201
    before = snapshot(source_root)

    # Corrupt one blob on disk: the copy stops there with one line, and records nothing of it.
    storage = FilesystemDriver(source_root / "storage")
    corrupt = small.layer_digests[0]
    victim = next(
        info.path for info in storage.walk("objects") if sha256(storage.read(info.path)) == corrupt
    )
    good = storage.read(victim)
    (source_root / "storage" / victim).write_bytes(b"not the layer")
    source = write_toml(tmp_path / "source.toml", {"root": str(source_root)})
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    target_data = {
        "root": str(tmp_path / "target-root"),
        "metadata": {"kind": "postgres", "dsn": dsn},
        "storage": {"driver": "s3", "endpoint": seaweed.endpoint, "bucket": bucket},
    }
    target = write_toml(tmp_path / "target.toml", target_data)
    done = migrate(source, target)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and corrupt in errors[0] and "Traceback" not in done.stderr

    # Fixed, and run again: it carries on, skipping what it copied before.
    (source_root / "storage" / victim).write_bytes(good)
    done = migrate(source, target)
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout and "copied" in done.stdout
    assert snapshot(source_root) == before  # the source is exactly as it was
    again = migrate(source, target)
    assert again.returncode == 0 and "copied 0 blobs" in again.stdout, again.stdout

    # A replica on the target serves all of it.
    with (
        lamina_cluster(tmp_path / "serve", dsn, seaweed.endpoint, bucket, replicas=1) as (
            _,
            servers,
        ),
        http_client(servers[0].url) as client,
    ):
        pull_complete(client, "team/big", "v1", ACCEPT_ALL)
        pull_complete(client, "team/multi", "v1", ACCEPT_ALL)
        pull_complete(client, "team/multi", "small", ACCEPT_ALL)
        assert client.head(f"/v2/other/blobs/{layer}").status_code == 200
        r = client.get(f"/v2/team/multi/referrers/{index.digest}")
        assert [m["digest"] for m in r.json()["manifests"]] == [sha256(raw)]
        assert client.get("/v2/team/multi/tags/list").json()["tags"] == ["small", "v1"]


def test_migrate_needs_a_source(tmp_path: Path) -> None:
    source = write_toml(tmp_path / "source.toml", {"root": str(tmp_path / "nothing")})
    target = write_toml(tmp_path / "target.toml", {"root": str(tmp_path / "target")})
    done = migrate(source, target)
    assert done.returncode != 0 and "no registry at" in done.stderr
    assert not (tmp_path / "nothing").exists()
