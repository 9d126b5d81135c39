"""A command keeps the image it found or pulled until its container (or its tag) does.

Each test runs another process's ``image prune -a -f`` (and ``rmi``) at the worst moment of a
command: after ``create`` and ``run`` found or pulled the image and before they make the
container; between every step of a build; between a load's record and its tag. The command
must succeed as if alone, and the image it used must stay (``lamina.store.holds``).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers.busybox import busybox_tar, needs_containers
from helpers.images import make_docker_legacy_archive, make_image, write_oci_layout
from lamina.engine.images import prune_images
from lamina.store import Store
from registry.servers import Server

from .conftest import Run


def other_process(store_root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAMINA_ROOT": str(store_root)}
    return subprocess.run([sys.executable, "-m", "lamina", *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def prune_in_between(monkeypatch: pytest.MonkeyPatch, store_root: Path, name: str
                     ) -> list[subprocess.CompletedProcess[str]]:
    """Make ``image prune -a -f`` and ``rmi name`` run in other processes right between
    run/create's finding (or pulling) of the image and the making of the container: that
    is where the platform is checked."""
    import lamina.engine.containers as containers

    seen: list[subprocess.CompletedProcess[str]] = []
    check = containers.platform_check

    def racing(*args: Any, **kw: Any) -> None:
        seen.append(other_process(store_root, "image", "prune", "-a", "-f"))
        seen.append(other_process(store_root, "rmi", name))
        check(*args, **kw)

    monkeypatch.setattr(containers, "platform_check", racing)
    return seen


def push(tmp: Path, registry: Server, layers: list[Any], name: str) -> None:
    image = make_image(layers, {"config": {"Cmd": ["sh"]}})
    layout = write_oci_layout(tmp / "layout", [(image, "t")])
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                    f"oci:{layout}:t", f"docker://{registry.host}/{name}"],
                   check=True, capture_output=True)


def check_raced(seen: list[subprocess.CompletedProcess[str]], name: str) -> None:
    prune, rmi = seen
    assert prune.returncode == 0 and prune.stdout == "Total reclaimed space: 0B\n", prune
    assert rmi.returncode == 1
    assert rmi.stderr.startswith(
        f'Error: conflict: unable to remove repository reference "{name}" '
        "(must force) - a container is being created from its referenced image "), rmi.stderr


def no_holds_left(store_root: Path) -> None:
    with Store(store_root) as store:
        assert store.held_images() == set()
        assert store.db.read(lambda c: c.execute("SELECT count(*) FROM holds").fetchone()) \
            == (0,)
    assert list((store_root / "tmp").glob("hold-*")) == []


def test_create_keeps_the_image_it_pulled(lamina: Run, cncf: Server, tmp_path: Path,
                                          store_root: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"{cncf.host}/holds/pulled:1"
    push(tmp_path, cncf, [{"etc/hello": b"hi\n"}], "holds/pulled:1")
    seen = prune_in_between(monkeypatch, store_root, name)
    created = lamina("create", "--network", "none", name)
    assert created.code == 0, created.err
    check_raced(seen, name)
    assert lamina("ps", "-aq", "--no-trunc").out.split() == [created.out.strip()]
    assert lamina("images", "-q", name).out.strip()
    no_holds_left(store_root)
    # From now on the container keeps it.
    refused = lamina("rmi", name)
    assert refused.code == 1 and "a container is using its referenced image" in refused.err


def test_create_keeps_the_image_it_found(lamina: Run, load_image: Callable[..., Any],
                                         store_root: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    load_image([{"etc/hello": b"hi\n"}], ["found:1"], {"config": {"Cmd": ["sh"]}})
    seen = prune_in_between(monkeypatch, store_root, "found:1")
    created = lamina("create", "--network", "none", "found:1")
    assert created.code == 0, created.err
    check_raced(seen, "found:1")
    no_holds_left(store_root)


def test_run_keeps_the_image_it_found(lamina: Run, tmp_path: Path, store_root: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    needs_containers()
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(busybox_tar())
    assert lamina("import", str(rootfs), "busybox:1").code == 0
    seen = prune_in_between(monkeypatch, store_root, "busybox:1")
    ran = lamina("run", "--rm", "--network", "none", "busybox:1", "echo", "hello")
    assert (ran.code, ran.out) == (0, "hello\n"), ran.err
    check_raced(seen, "busybox:1")
    no_holds_left(store_root)
    assert lamina("images", "-q", "busybox:1").out.strip()


def test_runs_quick_path_holds_the_image_it_checked(lamina: Run, tmp_path: Path,
                                                     store_root: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``lamina run`` without click first checks that the image is in the store (else click's
    run pulls it): from that check on, the image is held. The race runs right after it."""
    needs_containers()
    import lamina.cli.runner as runner

    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(busybox_tar())
    assert lamina("import", str(rootfs), "busybox:1").code == 0
    seen: list[subprocess.CompletedProcess[str]] = []
    build_options = runner.build_options

    def racing(*args: Any, **kw: Any) -> Any:
        seen.append(other_process(store_root, "image", "prune", "-a", "-f"))
        seen.append(other_process(store_root, "rmi", "busybox:1"))
        return build_options(*args, **kw)

    monkeypatch.setattr(runner, "build_options", racing)
    ran = lamina("run", "--rm", "--network", "none", "busybox:1", "echo", "hello")
    assert (ran.code, ran.out, ran.err) == (0, "hello\n", "")
    check_raced(seen, "busybox:1")
    no_holds_left(store_root)


def impatient(store_root: Path) -> Store:
    """Another process's store whose gc does not wait for the adding command to finish (it
    would leave the files anyway; the images are what is at stake)."""
    other = Store(store_root)
    other.gc = functools.partial(Store.gc, other, wait=0)  # type: ignore[method-assign]
    return other


def test_build_keeps_its_base_and_its_steps(lamina: Run, load_image: Callable[..., Any],
                                            tmp_path: Path, store_root: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Before each step a prune runs: the base image (tagged, but no container uses it), the
    steps' images (untagged) and the result (not yet tagged) must all stay."""
    from lamina.build.builder import Builder

    base = load_image([{"etc/hello": b"hi\n"}], ["base:1"])
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM base:1\nLABEL a=b\nENV X=1\nLABEL c=d\n")
    pruned: list[int] = []
    said: list[str] = []
    say = Builder.say

    def racing(self: Builder, line: str) -> None:
        said.append(line)
        if len(said) > 1:  # (before the first line, FROM has not found its base yet)
            with impatient(store_root) as other:
                pruned.append(len(prune_images(other, all=True).removals))
        say(self, line)

    monkeypatch.setattr(Builder, "say", racing)
    built = lamina("build", "-q", "-t", "built:1", str(context))
    assert built.code == 0, built.err
    assert said[0].startswith("[1/4] FROM") and len(pruned) >= 3 and set(pruned) == {0}, said
    images = lamina("images", "-a", "--no-trunc", "-q").out.split()
    assert built.out.strip() in images and base.config_digest in images
    assert lamina("inspect", "-f", "{{.Config.Labels}}", "built:1").out == "map[a:b c:d]\n"
    no_holds_left(store_root)


def test_load_keeps_each_image_until_it_is_tagged(lamina: Run, tmp_path: Path,
                                                  store_root: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import lamina.engine.archives as archives

    images = [make_image([{"etc/n": str(i).encode()}]) for i in range(2)]
    archive = tmp_path / "two.tar"
    archive.write_bytes(make_docker_legacy_archive(
        [(images[0], ["one:1"]), (images[1], ["two:1"])]))
    pruned: list[int] = []
    move_tag = archives._move_tag

    def racing(*args: Any) -> list[str]:
        with impatient(store_root) as other:
            pruned.append(len(prune_images(other, all=True).removals))
        return move_tag(*args)

    monkeypatch.setattr(archives, "_move_tag", racing)
    loaded = lamina("load", "-i", str(archive))
    assert loaded.code == 0, loaded.err
    assert pruned == [0, 0]
    assert sorted(lamina("images", "--format", "{{.Repository}}").out.split()) == ["one", "two"]
    no_holds_left(store_root)


def test_save_keeps_what_it_writes(lamina: Run, load_image: Callable[..., Any],
                                   tmp_path: Path, store_root: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A prune in another process between save's choice of images and its writing of them."""
    import lamina.image.archive as archive_module

    image = load_image([{"etc/hello": b"hi\n"}], ["saved:1"])
    pruned: list[int] = []
    write = archive_module.write_docker_archive

    def racing(*args: Any, **kw: Any) -> None:
        with impatient(store_root) as other:
            pruned.append(len(prune_images(other, all=True).removals))
        write(*args, **kw)

    monkeypatch.setattr(archive_module, "write_docker_archive", racing)
    out = tmp_path / "saved.tar"
    saved = lamina("save", "-o", str(out), "saved:1")
    assert saved.code == 0, saved.err
    assert pruned == [0]
    no_holds_left(store_root)
    # What it wrote is whole: another store loads it.
    monkeypatch.setenv("LAMINA_ROOT", str(tmp_path / "elsewhere"))
    assert lamina("load", "-q", "-i", str(out)).out == "Loaded image: saved:1\n"
    assert lamina("images", "-q", "--no-trunc").out.strip() == image.config_digest


def test_push_keeps_what_it_sends(lamina: Run, load_image: Callable[..., Any], cncf: Server,
                                  store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lamina.remote.push as push_module

    name = f"{cncf.host}/holds/pushed:1"
    image = load_image([{"etc/hello": b"hi\n"}], [name])
    pruned: list[int] = []
    push_image = push_module.push_image

    def racing(*args: Any, **kw: Any) -> Any:
        with impatient(store_root) as other:
            pruned.append(len(prune_images(other, all=True).removals))
        return push_image(*args, **kw)

    monkeypatch.setattr(push_module, "push_image", racing)
    pushed = lamina("push", "-q", name)
    assert pushed.code == 0, pushed.err
    assert pruned == [0]
    no_holds_left(store_root)
    assert lamina("rmi", name).code == 0
    pulled = lamina("pull", "-q", name)
    assert pulled.code == 0, pulled.err
    assert lamina("images", "-q", "--no-trunc").out.strip() == image.config_digest
