"""``lamina pull`` and ``lamina push`` through the CLI, against real registries on loopback:
docker's output lines, round trips, mounts, mirrors, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers.images import make_image, make_index, write_oci_layout
from registry.servers import Server

from .conftest import Run

pytestmark = pytest.mark.peer


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("LAMINA_CONFIG", str(tmp_path / "lamina.toml"))


def short(digest: str) -> str:
    return digest[7:19]


def load_tagged(lamina: Run, load_image, layers: list, tag: str):  # type: ignore[no-untyped-def]
    """Load an image from an OCI layout (blobs kept as built: same digests) and tag it."""
    image = load_image(layers)
    assert lamina("tag", image.config_digest, tag).code == 0
    return image


def test_push_rmi_pull_round_trip(lamina: Run, load_image, lamina_registry: Server) -> None:
    image = load_tagged(lamina, load_image, [{"a": b"a" * 3000}, {"b": b"b"}], "roundtrip:1")
    target = f"{lamina_registry.host}/round/trip:v1"
    assert lamina("tag", "roundtrip:1", target).code == 0
    pushed = lamina("push", target)
    assert pushed.code == 0, pushed.err
    bottom, top = image.layer_digests
    lines = pushed.out.splitlines()
    assert lines[0] == f"The push refers to repository [{lamina_registry.host}/round/trip]"
    assert lines[1:3] == [f"{short(top)}: Preparing", f"{short(bottom)}: Preparing"]
    assert sorted(lines[3:5]) == sorted([f"{short(top)}: Pushed", f"{short(bottom)}: Pushed"])
    assert lines[5] == f"v1: digest: {image.manifest_digest} size: {len(image.manifest)}"
    assert len(lines) == 6

    assert lamina("rmi", "roundtrip:1", target).code == 0
    assert lamina("images", "-q").out == ""
    pulled = lamina("pull", target)
    assert pulled.code == 0, pulled.err
    lines = pulled.out.splitlines()
    assert lines[0] == "v1: Pulling from round/trip"
    for layer in (bottom, top):
        assert f"{short(layer)}: Pulling fs layer" in lines
        assert f"{short(layer)}: Pull complete" in lines
    assert lines[-3:] == [f"Digest: {image.manifest_digest}",
                          f"Status: Downloaded newer image for {target}", target]
    inspect = lamina("inspect", "-f", "{{.Id}} {{index .RepoDigests 0}}", target)
    assert inspect.out.split() == [image.config_digest,
                                   f"{lamina_registry.host}/round/trip@{image.manifest_digest}"]

    again = lamina("pull", target)
    assert f"{short(top)}: Already exists" in again.out
    assert again.out.splitlines()[-2:] == [f"Status: Image is up to date for {target}", target]


def test_push_skips_and_mounts(lamina: Run, load_image, lamina_registry: Server) -> None:
    image = load_tagged(lamina, load_image, [{"m": b"mount me" * 100}], "mount:1")
    [layer] = image.layer_digests
    first = f"{lamina_registry.host}/mount/first:1"
    second = f"{lamina_registry.host}/mount/second"
    lamina("tag", "mount:1", first)
    lamina("tag", "mount:1", second)
    assert lamina("push", first).code == 0
    again = lamina("push", first)
    assert f"{short(layer)}: Layer already exists" in again.out.splitlines()
    mounted = lamina("push", second)
    assert mounted.code == 0, mounted.err
    lines = mounted.out.splitlines()
    assert lines[0] == "Using default tag: latest"
    assert f"{short(layer)}: Mounted from mount/first" in lines
    assert lines[-1] == f"latest: digest: {image.manifest_digest} size: {len(image.manifest)}"


def test_quiet(lamina: Run, load_image, lamina_registry: Server) -> None:
    load_tagged(lamina, load_image, [{"q": b"q"}], "quiet:1")
    target = f"{lamina_registry.host}/quiet/img:1"
    lamina("tag", "quiet:1", target)
    assert lamina("push", "-q", target).out == f"{target}\n"
    lamina("rmi", "quiet:1", target)
    assert lamina("pull", "-q", f"{lamina_registry.host}/quiet/img:1").out == f"{target}\n"


def test_pull_all_tags(lamina: Run, tmp_path: Path, cncf: Server) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo")
    import subprocess

    for tag, content in (("one", b"1"), ("two", b"2")):
        layout = write_oci_layout(tmp_path / tag, [(make_image([{"t": content}]), tag)])
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                        f"oci:{layout}:{tag}", f"docker://{cncf.host}/all/tags:{tag}"],
                       check=True)
    result = lamina("pull", "-a", f"{cncf.host}/all/tags")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "one: Pulling from all/tags" in lines and "two: Pulling from all/tags" in lines
    assert lines[-2:] == [f"Status: Downloaded newer image for {cncf.host}/all/tags",
                          f"{cncf.host}/all/tags"]
    assert "Using default tag" not in result.out
    listed = lamina("images", "--format", "{{.Tag}}", f"{cncf.host}/all/tags").out.split()
    assert sorted(listed) == ["one", "two"]
    assert lamina("pull", "-a", f"{cncf.host}/all/tags:one").code == 1


def test_platforms(lamina: Run, tmp_path: Path, cncf: Server) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo")
    import subprocess

    amd64 = make_image([{"arch": b"amd64"}], {"architecture": "amd64"})
    arm = make_image([{"arch": b"arm"}], {"architecture": "arm", "variant": "v7"})
    index = make_index([amd64, arm])
    layout = write_oci_layout(tmp_path / "multi", [(index, "m")])
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--all",
                    "--dest-tls-verify=false", f"oci:{layout}:m",
                    f"docker://{cncf.host}/multi/platform:m"], check=True)
    ref = f"{cncf.host}/multi/platform:m"
    ok = lamina("pull", "--platform", "linux/arm/v7", ref)
    assert ok.code == 0, ok.err
    assert lamina("inspect", "-f", "{{.Id}}", ref).out.strip() == arm.config_digest
    bad = lamina("pull", "--platform", "linux/riscv64", ref)
    assert bad.code == 1
    assert bad.err.startswith("Error: no matching manifest for linux/riscv64")
    assert "linux/amd64, linux/arm/v7" in bad.err


def test_errors(lamina: Run, lamina_registry: Server) -> None:
    missing = lamina("pull", f"{lamina_registry.host}/no/such:tag")
    assert missing.code == 1
    assert missing.err.startswith(f"Error: manifest for {lamina_registry.host}/no/such:tag not found")
    assert len(missing.err.splitlines()) == 1
    local = lamina("push", f"{lamina_registry.host}/not/here:1")
    assert local.code == 1
    assert "An image does not exist locally with the tag" in local.err
    refused = lamina("pull", "127.0.0.1:1/closed/port:1")
    assert refused.code == 1
    assert refused.err.startswith("Error: 127.0.0.1:1: ")


def test_docker_hub_mirror(lamina: Run, load_image, lamina_registry: Server, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``lamina pull debian`` is served by the mirror lamina's config names."""
    image = load_tagged(lamina, load_image, [{"etc/debian_version": b"12.0\n"}], "seed:1")
    lamina("tag", "seed:1", f"{lamina_registry.host}/library/debian:latest")
    assert lamina("push", f"{lamina_registry.host}/library/debian:latest").code == 0
    lamina("rmi", "seed:1", f"{lamina_registry.host}/library/debian:latest")
    config = tmp_path / "mirror.toml"
    config.write_text(f'[registries]\nmirrors = ["http://{lamina_registry.host}"]\n')
    monkeypatch.setenv("LAMINA_CONFIG", str(config))
    result = lamina("pull", "debian")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:2] == ["Using default tag: latest", "latest: Pulling from library/debian"]
    assert lines[-2:] == ["Status: Downloaded newer image for debian:latest",
                          "docker.io/library/debian:latest"]
    assert lamina("inspect", "-f", "{{.Id}}", "debian").out.strip() == image.config_digest
