"""Hostile archives through the API: PUT archive, build contexts and load. Everything the CLI
refuses, the API refuses with a 400 and the CLI's message, and nothing changes.

The service (and the CLI it is compared with) runs jailed: in a private mount namespace
whose view of the host's root is read-only, with only the test's directory writable, so an
archive that got out could not write to the host."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.service import Service
from helpers.busybox import needs_containers

JAIL = ['mount --bind "$0" "$0" && mount -o remount,bind,ro / && exec "$@"']


def jail(tmp: Path) -> list[str]:
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", *JAIL, str(tmp)]


@pytest.fixture(scope="module")
def jailed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    needs_containers()
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    tmp = tmp_path_factory.mktemp("hostile")
    svc = Service(tmp, wrap=jail(tmp))
    svc.import_busybox()
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def _tar(entries: list[tuple[str, bytes | str | None]]) -> bytes:
    """(name, bytes: a file | str: a symlink's target | None: a directory)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, what in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1704067200
            if what is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(what, str):
                info.type, info.linkname = tarfile.SYMTYPE, what
                tar.addfile(info)
            else:
                info.size, info.mode = len(what), 0o644
                tar.addfile(info, io.BytesIO(what))
    return buf.getvalue()


def _cli(svc: Service, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*svc.wrap, sys.executable, "-m", "lamina", *args], input=stdin,
                          capture_output=True, env=svc.env, timeout=120, check=False)


def _cli_message(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode().strip()
    assert result.returncode != 0 and "Traceback" not in err, err
    return err.removeprefix("Error: ").removeprefix("Error response from daemon: ")


ARCHIVES = {
    "parent": [("../../escaped.txt", b"out")],
    "absolute": [("/escaped-abs.txt", b"out")],
    "through-symlink": [("link", "/"), ("link/escaped-link.txt", b"out")],
    "dotdot-symlink": [("up", "../../../.."), ("up/escaped-up.txt", b"out")],
}


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_put_archive_refuses_what_cp_refuses(jailed: Service, name: str) -> None:
    created = jailed.request("POST", "/containers/create?name=hostile-" + name,
                             {"Image": "busybox", "Cmd": ["true"]})
    assert created.status == 201, created.body
    cid = created.json()["Id"]
    archive = _tar(ARCHIVES[name])
    before = jailed.request("GET", f"/containers/{cid}/changes").json()
    answer = jailed.request("PUT", f"/containers/{cid}/archive?path=/tmp", archive,
                            {"Content-Type": "application/x-tar"})
    cli = _cli(jailed, "cp", "-", f"hostile-{name}:/tmp", stdin=archive)
    if answer.status == 200:
        # what lamina accepts it keeps inside the container, as the CLI does
        assert cli.returncode == 0, cli.stderr
    else:
        assert answer.status == 400, answer.body
        assert answer.message == _cli_message(cli)
        assert jailed.request("GET", f"/containers/{cid}/changes").json() == before
    for escaped in jailed.tmp.rglob("escaped*"):
        assert "containers" in escaped.parts, f"{escaped} was written outside the container"
    jailed.request("DELETE", f"/containers/{cid}?force=1")


def _store_state(svc: Service) -> tuple[str, list[str]]:
    images = svc.lamina("images", "-a", "--no-trunc", "-q").stdout.decode()
    blobs = sorted(str(p.relative_to(svc.root)) for p in (svc.root).rglob("*")
                   if p.is_file() and "blobs" in p.parts)
    return images, blobs


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_build_refuses_hostile_contexts(jailed: Service, name: str) -> None:
    context = _tar([("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n"), *ARCHIVES[name]])
    before = _store_state(jailed)
    answer = jailed.request("POST", "/build?t=hostile:1", context,
                            {"Content-Type": "application/x-tar"})
    cli = _cli(jailed, "build", "-t", "hostile:1", "-", stdin=context)
    if answer.status == 200:
        # accepted (the link resolves inside the context, as the CLI's build reads it)
        assert cli.returncode == 0, cli.stderr
        assert b"errorDetail" not in answer.body
        jailed.lamina("rmi", "hostile:1")
    else:
        assert answer.status == 400, answer.body
        assert answer.message == _cli_message(cli)
        assert _store_state(jailed) == before
    for escaped in jailed.tmp.rglob("escaped*"):
        assert "store" in escaped.parts, f"{escaped} was written outside the store"


def test_build_dockerfile_symlink_stays_in_the_context(jailed: Service) -> None:
    context = _tar([("Dockerfile", "/etc/passwd")])
    answer = jailed.request("POST", "/build?dockerfile=Dockerfile", context,
                            {"Content-Type": "application/x-tar"})
    assert answer.status in (400, 404)
    assert "root:" not in answer.body.decode(errors="replace")
    outside = jailed.request("POST", "/build?dockerfile=../../etc/passwd", context,
                             {"Content-Type": "application/x-tar"})
    assert outside.status == 400
    assert outside.message == "the Dockerfile (../../etc/passwd) must be inside the build context"


def _hostile_load_archives() -> dict[str, bytes]:
    layer = _tar([("../../escaped-load.txt", b"out")])
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["hostile:load"],
                            "Layers": ["../../../etc/passwd"]}]).encode()
    return {
        "manifest-escapes": _tar([("manifest.json", manifest), ("config.json", config)]),
        "not-a-tar": b"this is not a tar archive at all" * 100,
        "layer-escapes": _tar([
            ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["hostile:l"],
                                           "Layers": ["layer.tar"]}]).encode()),
            ("config.json", config), ("layer.tar", layer)]),
    }


@pytest.mark.parametrize("name", sorted(_hostile_load_archives()))
def test_load_refuses_what_the_cli_refuses(jailed: Service, name: str) -> None:
    archive = _hostile_load_archives()[name]
    before = _store_state(jailed)
    answer = jailed.request("POST", "/images/load", archive,
                            {"Content-Type": "application/x-tar"})
    cli = _cli(jailed, "load", stdin=archive)
    assert answer.status == 400, answer.body
    assert answer.message == _cli_message(cli)
    assert _store_state(jailed) == before
