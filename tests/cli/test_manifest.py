"""``lamina manifest``: a multi-platform index made from two pushed images, annotated, pushed
to lamina's registry on loopback, inspected there, and pulled by platform."""

from __future__ import annotations

import json

from registry.servers import Server

from .conftest import Run


def test_manifest_create_annotate_push_inspect_rm(lamina: Run, load_image,
                                                  lamina_registry: Server) -> None:
    host = lamina_registry.host
    load_image([{"amd": b"amd64"}], tags=[f"{host}/multi/amd:1"],
                     config={"architecture": "amd64"})
    arm = load_image([{"arm": b"arm64"}], tags=[f"{host}/multi/arm:1"],
                     config={"architecture": "arm64"})
    pushed_as = {}
    for name in (f"{host}/multi/amd:1", f"{host}/multi/arm:1"):
        assert lamina("push", "-q", name).code == 0
        repo_digest = json.loads(lamina("inspect", name).out)[0]["RepoDigests"][0]
        pushed_as[name] = repo_digest.partition("@")[2]
    target = f"{host}/multi/app:1"

    created = lamina("manifest", "create", target, f"{host}/multi/amd:1", f"{host}/multi/arm:1")
    assert created.code == 0, created.err
    assert created.out == f"Created manifest list {target}\n"
    again = lamina("manifest", "create", target, f"{host}/multi/amd:1")
    assert again.code == 1
    assert "refusing to amend an existing manifest list with no --amend flag" in again.err

    assert lamina("manifest", "annotate", "--variant", "v8", "--os-features", "a,b", target,
                  f"{host}/multi/arm:1").code == 0
    local = json.loads(lamina("manifest", "inspect", target).out)
    assert local["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    platforms = [m["platform"] for m in local["manifests"]]
    assert platforms == [{"architecture": "amd64", "os": "linux"},
                         {"architecture": "arm64", "os": "linux", "variant": "v8",
                          "os.features": ["a", "b"]}]
    assert [m["digest"] for m in local["manifests"]] == list(pushed_as.values())

    pushed = lamina("manifest", "push", "--purge", target)
    assert pushed.code == 0, pushed.err
    digest = pushed.out.strip()
    assert digest.startswith("sha256:")
    # Purged locally: inspect now reads the registry's index, the same manifests.
    remote = lamina("manifest", "inspect", target)
    assert remote.out.startswith("{\n\t\"schemaVersion\": 2,")
    assert [m["digest"] for m in json.loads(remote.out)["manifests"]] == list(
        pushed_as.values())
    # The index is pullable by platform: the arm64 image comes.
    assert lamina("rmi", f"{host}/multi/arm:1", f"{host}/multi/amd:1").code == 0
    pulled = lamina("pull", "-q", "--platform", "linux/arm64/v8", target)
    assert pulled.code == 0, pulled.err
    assert json.loads(lamina("inspect", target).out)[0]["Id"] == arm.config_digest
    assert lamina("manifest", "rm", target).err == f"Error: No such manifest: {target}\n"


def test_manifest_refusals(lamina: Run, load_image, lamina_registry: Server) -> None:
    host = lamina_registry.host
    load_image([{"x": b"x"}], tags=[f"{host}/refuse/x:1"])
    assert lamina("push", "-q", f"{host}/refuse/x:1").code == 0
    other = lamina("manifest", "create", "example.com/a:1", f"{host}/refuse/x:1")
    assert other.code == 1
    assert "cannot use source images from a different registry" in other.err
    missing = lamina("manifest", "create", f"{host}/refuse/list:1", f"{host}/refuse/nosuch:1")
    assert missing.code == 1 and missing.err.count("\n") == 1
    assert lamina("manifest", "push", f"{host}/refuse/list:1").err == (
        f"Error: No such manifest: {host}/refuse/list:1\n")
    assert lamina("manifest", "annotate", f"{host}/refuse/list:1", "x").code == 1


def test_images_digests_rows(lamina: Run, load_image, lamina_registry: Server) -> None:
    """docker's rows: each tag times each repo digest of its repository, then a row per
    repository known by digest only (even when the image has tags elsewhere)."""
    host = lamina_registry.host
    load_image([{"d": b"d"}], tags=["local:1", f"{host}/dig/x:1"])
    assert lamina("push", "-q", f"{host}/dig/x:1").code == 0
    assert lamina("tag", f"{host}/dig/x:1", f"{host}/dig/x:2").code == 0
    fmt = "{{.Repository}} {{.Tag}} {{.Digest}}"
    digest = json.loads(lamina("inspect", "local:1").out)[0]["RepoDigests"][0].partition("@")[2]
    rows = lamina("images", "--digests", "--format", fmt).out.splitlines()
    assert sorted(rows) == sorted(["local 1 <none>", f"{host}/dig/x 1 {digest}",
                                   f"{host}/dig/x 2 {digest}"])
    plain = lamina("images", "--format", "{{.Repository}} {{.Tag}}").out.splitlines()
    assert sorted(plain) == sorted(["local 1", f"{host}/dig/x 1", f"{host}/dig/x 2"])
    # Untagged in that repository, the digest keeps a row of its own.
    assert lamina("rmi", f"{host}/dig/x:1", f"{host}/dig/x:2").code == 0
    rows = lamina("images", "--digests", "--format", fmt).out.splitlines()
    assert sorted(rows) == sorted(["local 1 <none>", f"{host}/dig/x <none> {digest}"])
    # rmi of the last tag: docker's Untagged lines, the repo digest's too.
    result = lamina("rmi", "local:1")
    assert result.out.splitlines()[:2] == ["Untagged: local:1",
                                           f"Untagged: {host}/dig/x@{digest}"]
