"""The registry's side of signatures: GC removes those whose image is gone (``.sig`` tags,
referrers, the referrers fallback tag), and the optional ``[trust]`` serving policy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from lamina.registry.config import RegistryConfig
from lamina.registry.gc import collect_garbage
from lamina.registry.service import Registry
from registry.servers import Server, lamina_server

from .conftest import Images, KeyPair, Run

ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json, "
                    "application/vnd.oci.image.index.v1+json"}


@pytest.fixture
def own_registry(tmp_path: Path) -> Server:
    with lamina_server(tmp_path / "reg") as server:
        server.start(tmp_path / "reg.log")
        yield server


def gc(root: Path) -> list[tuple[str, str]]:
    registry = Registry(RegistryConfig(root=root, log_requests=False))
    try:
        report = collect_garbage(registry.metadata, registry.storage, grace_seconds=60,
                                 now=time.time() + 120)
    finally:
        registry.close()
    return report.manifests


def test_gc_removes_signatures_of_deleted_images(lamina: Run, sign, own_registry: Server,
                                                tmp_path: Path) -> None:
    host = own_registry.host
    images = Images(own_registry)
    gone = images.push("gc/app:gone")
    kept = images.push("gc/app:kept")
    for tag in ("gone", "kept"):
        sign(f"{host}/gc/app:{tag}", "trusted", "--format", "both")
    # A referrers fallback tag too, as a registry without the referrers API would hold it.
    with httpx.Client(base_url=own_registry.url, trust_env=False) as client:
        listed = client.get(f"/v2/gc/app/referrers/{gone}").json()
        fallback = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": listed["manifests"]}
        tag = gone.replace(":", "-")
        r = client.put(f"/v2/gc/app/manifests/{tag}", content=json.dumps(fallback).encode(),
                       headers={"Content-Type": fallback["mediaType"]})
        assert r.status_code == 201
        assert client.delete(f"/v2/gc/app/manifests/{gone}").status_code == 202
        tags_before = client.get("/v2/gc/app/tags/list").json()["tags"]
    assert f"{tag}.sig" in tags_before and tag in tags_before
    removed = gc(tmp_path / "reg")
    assert ("gc/app", f"{tag}.sig") in removed
    with httpx.Client(base_url=own_registry.url, trust_env=False) as client:
        tags = client.get("/v2/gc/app/tags/list").json()["tags"]
        assert sorted(tags) == sorted(["kept", kept.replace(":", "-") + ".sig"])
        # The bundle referrer of the deleted image is gone, the kept image's stays.
        assert client.get(f"/v2/gc/app/referrers/{gone}").json()["manifests"] == []
        assert len(client.get(f"/v2/gc/app/referrers/{kept}").json()["manifests"]) == 1
    # What is left still verifies.
    shown = json.loads(lamina("trust", "inspect", f"{host}/gc/app:kept").out)[0]["Signatures"]
    assert sorted(r["Format"] for r in shown) == ["bundle", "sig"]


def test_trust_policy_serves_only_signed_manifests(lamina: Run, sign, tmp_path: Path,
                                                   pairs: dict[str, KeyPair]) -> None:
    config = tmp_path / "registry.toml"
    config.write_text(f'[trust]\nrepositories = ["prod/*"]\nkeys = ["{pairs["trusted"].pub}"]\n')
    with lamina_server(tmp_path / "reg", config=config) as server:
        server.start(tmp_path / "reg.log")
        images = Images(server)
        host = server.host
        digest = images.push("prod/app:v1")
        images.push("dev/app:v1")
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            r = client.get(f"/v2/prod/app/manifests/{digest}", headers=ACCEPT)
            assert r.status_code == 403
            [error] = r.json()["errors"]
            assert error["code"] == "DENIED"
            assert "not signed by a key this registry trusts" in error["message"]
            # A HEAD says what the tag names (no content), so that a signer can sign it.
            assert client.head("/v2/prod/app/manifests/v1", headers=ACCEPT).status_code == 200
            assert client.get("/v2/dev/app/manifests/v1", headers=ACCEPT).status_code == 200
        refused = lamina("pull", f"{host}/prod/app:v1")
        assert refused.code == 1 and "not signed by a key this registry trusts" in refused.err
        assert "Traceback" not in refused.err
        # Signed by another key: still refused; by the trusted key: served, and the
        # signature itself is always readable.
        sign(f"{host}/prod/app:v1", "other")
        assert lamina("pull", f"{host}/prod/app:v1").code == 1
        sign(f"{host}/prod/app:v1", "trusted", "--format", "bundle")
        result = lamina("pull", f"{host}/prod/app:v1")
        assert result.code == 0, result.err
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            sig = digest.replace(":", "-") + ".sig"
            assert client.get(f"/v2/prod/app/manifests/{sig}", headers=ACCEPT).status_code == 200


def test_trust_config_errors(tmp_path: Path, pairs: dict[str, KeyPair]) -> None:
    from lamina.errors import InvalidArgument
    from lamina.registry.serve import load_config

    config = tmp_path / "registry.toml"
    config.write_text('[trust]\nrepositories = ["prod/*"]\n')
    with pytest.raises(InvalidArgument, match=r"trust\.repositories needs trust\.keys"):
        load_config(config)
    config.write_text('[trust]\nrepos = ["prod/*"]\n')
    with pytest.raises(InvalidArgument, match=r"unknown setting 'trust\.repos'"):
        load_config(config)
    config.write_text('[trust]\nrepositories = ["prod/*"]\nkeys = ["missing.pub"]\n')
    with pytest.raises(InvalidArgument, match=r"missing\.pub"):
        load_config(config)
    config.write_text(f'[trust]\nrepositories = ["p/*"]\nkeys = ["{pairs["ed"].pub}"]\n')
    assert load_config(config).trust.keys == [pairs["ed"].pub]
