"""Interop with real clients and a real peer: skopeo against lamina's registry, and the CNCF
registry (Debian's ``docker-registry``) given the same pushes as a reference.

Test images come from ``helpers.images`` as an OCI layout; skopeo pushes them as they are
(OCI manifests and indexes) or converted to Docker v2 schema 2 (``--format v2s2``: manifests
and manifest lists). Both registries must then serve the very same manifest bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.images import make_image, make_index, write_oci_layout
from lamina.registry.auth.htpasswd import set_user

from .servers import CNCF_REGISTRY, Server, lamina_server

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo"),
]
needs_cncf = pytest.mark.skipif(
    not Path(CNCF_REGISTRY).exists(), reason="needs docker-registry (the CNCF registry)"
)

# tag in the layout -> (skopeo --format or None, whether it is a multi-arch index)
IMAGES = {
    "oci": (None, False),
    "oci-index": (None, True),
    "docker": ("v2s2", False),
    "docker-list": ("v2s2", True),
}


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", "--insecure-policy", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    amd64 = make_image(
        [{"etc/hello": b"hello\n"}, {"usr/bin/tool": b"\x7fELF" + bytes(range(256)) * 64}]
    )
    arm64 = make_image([{"etc/hello": b"hallo\n"}], {"architecture": "arm64", "variant": "v8"})
    index = make_index([amd64, arm64])
    root = tmp_path_factory.mktemp("layout") / "oci"
    write_oci_layout(
        root, [(amd64, "oci"), (index, "oci-index"), (amd64, "docker"), (index, "docker-list")]
    )
    return root


def push(layout: Path, tag: str, server: Server, repo: str, *creds: str) -> None:
    fmt, multi = IMAGES[tag]
    args = ["copy", "-q", "--dest-tls-verify=false", *creds]
    args += ["--all"] if multi else []
    args += ["--format", fmt] if fmt else ["--preserve-digests"]
    skopeo(*args, f"oci:{layout}:{tag}", f"docker://{server.host}/{repo}:{tag}")


def raw_manifest(server: Server, ref: str, *creds: str) -> bytes:
    out = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            *creds,
            f"docker://{server.host}/{ref}",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout


@pytest.mark.parametrize("tag", list(IMAGES))
def test_skopeo_copies_in_and_out(
    layout: Path, lamina_registry: Server, tmp_path: Path, tag: str
) -> None:
    repo = f"interop/{tag}"
    push(layout, tag, lamina_registry, repo)
    raw = raw_manifest(lamina_registry, f"{repo}:{tag}")
    body = json.loads(raw)
    fmt, multi = IMAGES[tag]
    assert ("manifests" in body) == multi
    assert body["mediaType"].startswith("application/vnd.docker" if fmt else "application/vnd.oci")
    # Out again, every platform, into a directory that keeps the bytes as they came: the
    # manifest is the one pushed, and every blob checks out against its digest.
    out = tmp_path / "out"
    skopeo(
        "copy", "-q", "--src-tls-verify=false", "--all", "--preserve-digests",
        f"docker://{lamina_registry.host}/{repo}:{tag}", f"dir:{out}",
    )  # fmt: skip
    assert (out / "manifest.json").read_bytes() == raw
    blobs = [p for p in out.iterdir() if len(p.name) == 64]
    assert len(blobs) >= 3
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    if multi:
        children = {p.name.split(".")[0] for p in out.glob("*.manifest.json")}
        assert children == {m["digest"].removeprefix("sha256:") for m in body["manifests"]}
    # And registry to registry, by digest.
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    skopeo(
        "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", "--all",
        "--preserve-digests",
        f"docker://{lamina_registry.host}/{repo}@{digest}", f"docker://{lamina_registry.host}/{repo}-copy:again",
    )  # fmt: skip
    assert raw_manifest(lamina_registry, f"{repo}-copy:again") == raw


def test_skopeo_inspect_list_tags_and_delete(layout: Path, lamina_registry: Server) -> None:
    repo = "interop/ops"
    for tag in ("oci", "docker"):
        push(layout, tag, lamina_registry, repo)
    info = json.loads(
        skopeo(
            "inspect", "--tls-verify=false", f"docker://{lamina_registry.host}/{repo}:oci"
        ).stdout
    )
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert len(info["Layers"]) == 2
    assert (
        info["Digest"]
        == "sha256:" + hashlib.sha256(raw_manifest(lamina_registry, f"{repo}:oci")).hexdigest()
    )
    tags = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{lamina_registry.host}/{repo}").stdout
    )
    assert tags["Repository"].endswith(repo)
    assert sorted(tags["Tags"]) == ["docker", "oci"]
    skopeo("delete", "--tls-verify=false", f"docker://{lamina_registry.host}/{repo}:docker")
    gone = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{lamina_registry.host}/{repo}:docker",
        check=False,
    )
    assert gone.returncode != 0
    tags = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{lamina_registry.host}/{repo}").stdout
    )
    assert tags["Tags"] == ["oci"]


@needs_cncf
def test_same_pushes_give_the_same_digests_as_the_cncf_registry(
    layout: Path, lamina_registry: Server, cncf: Server
) -> None:
    for tag in IMAGES:
        repo = f"same/{tag}"
        push(layout, tag, lamina_registry, repo)
        push(layout, tag, cncf, repo)
        ours, theirs = (
            raw_manifest(lamina_registry, f"{repo}:{tag}"),
            raw_manifest(cncf, f"{repo}:{tag}"),
        )
        assert ours == theirs, tag
        # The children of an index too.
        body = json.loads(ours)
        for child in body.get("manifests", []):
            ref = f"{repo}@{child['digest']}"
            assert raw_manifest(lamina_registry, ref) == raw_manifest(cncf, ref)


@needs_cncf
def test_copy_between_lamina_and_the_cncf_registry(
    layout: Path, lamina_registry: Server, cncf: Server
) -> None:
    push(layout, "docker-list", cncf, "peer/list")
    skopeo(
        "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", "--all",
        "--preserve-digests",
        f"docker://{cncf.host}/peer/list:docker-list", f"docker://{lamina_registry.host}/peer/list:x",
    )  # fmt: skip
    skopeo(
        "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", "--all",
        "--preserve-digests",
        f"docker://{lamina_registry.host}/peer/list:x", f"docker://{cncf.host}/peer/back:y",
    )  # fmt: skip
    theirs = raw_manifest(cncf, "peer/list:docker-list")
    assert raw_manifest(lamina_registry, "peer/list:x") == theirs
    assert raw_manifest(cncf, "peer/back:y") == theirs


def test_skopeo_with_htpasswd_auth(layout: Path, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    set_user(htpasswd, "alice", "s3cret!", rounds=4)
    set_user(htpasswd, "bob", "hunter2", rounds=4)
    config = tmp_path / "registry.toml"
    config.write_text(
        f'[auth]\nkind = "htpasswd"\nhtpasswd = "{htpasswd}"\n'
        '[[auth.access]]\naccount = "alice"\nname = "**"\nactions = ["*"]\n'
        '[[auth.access]]\naccount = "bob"\nname = "**"\nactions = ["pull"]\n'
    )
    with lamina_server(tmp_path / "root", config=config) as srv:
        srv.start(tmp_path / "server.log")
        with pytest.raises(subprocess.CalledProcessError) as anonymous:
            push(layout, "oci-index", srv, "private/app")
        assert "unauthorized" in anonymous.value.stderr.lower()
        with pytest.raises(subprocess.CalledProcessError):
            push(layout, "oci-index", srv, "private/app", "--dest-creds", "alice:wrong")
        with pytest.raises(subprocess.CalledProcessError):
            push(layout, "oci-index", srv, "private/app", "--dest-creds", "bob:hunter2")
        push(layout, "oci-index", srv, "private/app", "--dest-creds", "alice:s3cret!")
        raw = raw_manifest(srv, "private/app:oci-index", "--creds", "bob:hunter2")
        assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.index.v1+json"
        denied = subprocess.run(
            [
                "skopeo",
                "inspect",
                "--raw",
                "--tls-verify=false",
                f"docker://{srv.host}/private/app:oci-index",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert denied.returncode != 0
        tags = skopeo(
            "list-tags", "--tls-verify=false", "--creds", "bob:hunter2",
            f"docker://{srv.host}/private/app",
        )  # fmt: skip
        assert json.loads(tags.stdout)["Tags"] == ["oci-index"]
        ref = f"docker://{srv.host}/private/app:oci-index"
        assert (
            skopeo(
                "delete", "--tls-verify=false", "--creds", "bob:hunter2", ref, check=False
            ).returncode
            != 0
        )
        skopeo("delete", "--tls-verify=false", "--creds", "alice:s3cret!", ref)
        gone = skopeo(
            "inspect", "--raw", "--tls-verify=false", "--creds", "alice:s3cret!", ref, check=False
        )
        assert gone.returncode != 0
        srv.stop()
    log = (tmp_path / "server.log").read_text()
    assert "s3cret" not in log and "hunter2" not in log


def test_skopeo_with_token_auth(layout: Path, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    set_user(htpasswd, "alice", "s3cret!", rounds=4)
    config = tmp_path / "registry.toml"
    config.write_text(
        f'[auth]\nkind = "token"\nhtpasswd = "{htpasswd}"\nanonymous_pull = true\n'
        '[[auth.access]]\naccount = "alice"\nname = "team/*"\nactions = ["*"]\n'
    )
    with lamina_server(tmp_path / "root", config=config) as srv:
        srv.start(tmp_path / "server.log")
        with pytest.raises(subprocess.CalledProcessError):
            push(layout, "oci", srv, "team/app")
        with pytest.raises(subprocess.CalledProcessError):
            push(layout, "oci", srv, "other/app", "--dest-creds", "alice:s3cret!")
        push(layout, "oci", srv, "team/app", "--dest-creds", "alice:s3cret!")
        # Anonymous pull through an anonymous token.
        raw = raw_manifest(srv, "team/app:oci")
        assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        tags = skopeo("list-tags", "--tls-verify=false", f"docker://{srv.host}/team/app")
        assert json.loads(tags.stdout)["Tags"] == ["oci"]
        ref = f"docker://{srv.host}/team/app:oci"
        assert skopeo("delete", "--tls-verify=false", ref, check=False).returncode != 0
        skopeo("delete", "--tls-verify=false", "--creds", "alice:s3cret!", ref)
        assert skopeo("inspect", "--raw", "--tls-verify=false", ref, check=False).returncode != 0


def test_skopeo_against_two_workers(layout: Path, tmp_path: Path) -> None:
    # Upload sessions, and every other state, live in the database: a push whose requests land
    # on either worker completes, and pulls back the same.
    with lamina_server(tmp_path / "root", workers=2) as srv:
        srv.start(tmp_path / "server.log")
        for tag in IMAGES:
            push(layout, tag, srv, "two/workers")
        out = tmp_path / "out"
        skopeo(
            "copy", "-q", "--src-tls-verify=false", "--all", "--preserve-digests",
            f"docker://{srv.host}/two/workers:oci-index", f"dir:{out}",
        )  # fmt: skip
        assert (out / "manifest.json").read_bytes() == raw_manifest(srv, "two/workers:oci-index")
        tags = skopeo("list-tags", "--tls-verify=false", f"docker://{srv.host}/two/workers")
        assert sorted(json.loads(tags.stdout)["Tags"]) == sorted(IMAGES)
