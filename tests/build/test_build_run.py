"""RUN steps: commands in containers over the stage's image (root and runc/crun needed)."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from buildhelp import build_ok as build
from buildhelp import runc_available, steps, write_files

from cli.conftest import Run

pytestmark = [
    pytest.mark.root,
    pytest.mark.peer,
    pytest.mark.skipif(not runc_available(), reason="needs root and runc or crun"),
]

Tree = dict[str, tuple[str, int, int, int, str]]
ReadTree = Callable[[str], tuple[Tree, dict[str, Any]]]
Layers = Callable[[str], list[list[tarfile.TarInfo]]]


def test_run_adds_changes_and_deletes_files(lamina: Run, ctx: Path, busybox: str,
                                            layer_tars: Layers, image_tree: ReadTree) -> None:
    out = build(lamina, ctx, (
        f"FROM {busybox}\n"
        "RUN mkdir -p /data/keep /data/wipe && echo 1 > /data/keep/a && echo 2 > /data/wipe/b"
        " && echo old > /data/changed\n"
        "RUN rm /etc/group /data/keep/a && echo new > /data/changed && rm -r /data/wipe"
        " && mkdir /data/wipe && echo 3 > /data/wipe/c && echo made > /added\n"
        "RUN echo to stdout; echo to stderr >&2\n"
    ), "-t", "ran")
    assert "to stdout" in out and "to stderr" in out
    layers = layer_tars("ran")
    assert len(layers) == 3  # the last RUN changed nothing: no layer
    second = {m.name: m for m in layers[2]}
    assert "etc/.wh.group" in second
    assert "data/keep/.wh.a" in second
    assert "data/wipe/.wh..wh..opq" in second  # removed and made again: opaque
    assert second["added"].isfile()
    tree, _ = image_tree("ran")
    assert "etc/group" not in tree and "data/keep/a" not in tree and "data/wipe/b" not in tree
    assert "data/wipe/c" in tree and "added" in tree
    history = json.loads(lamina("history", "--format", "json", "ran").out.splitlines()[0])
    assert history["Size"] == "0B"  # the RUN without changes


def test_run_sees_env_args_user_and_workdir(lamina: Run, ctx: Path, busybox: str,
                                            image_tree: ReadTree,
                                            read_files: Callable[[str], dict[str, bytes]]
                                            ) -> None:
    build(lamina, ctx, (
        f"FROM {busybox}\n"
        "ARG GREETING=hello\n"
        "ENV NAME=world\n"
        "WORKDIR /home/app\n"
        "USER app\n"
        'RUN echo "$GREETING $NAME $(id -u):$(id -g) $(pwd) $HOME" > out.txt\n'
        'SHELL ["/bin/sh", "-c", "-e"]\n'
        'RUN ["sh", "-c", "echo exec form > exec.txt"]\n'
        "RUN <<EOF\n"
        "echo heredoc > heredoc.txt\n"
        "EOF\n"
        "RUN cat > multi.txt <<EOF && cat >> multi.txt <<-'RAW'\n"
        "first $NAME\n"
        "EOF\n"
        "\tsecond $NAME\n"
        "\tRAW\n"
        "RUN <<EOF\n"
        "#!/bin/sh\n"
        "echo script > script.txt\n"
        "EOF\n"
    ), "--build-arg", "GREETING=hi", "-t", "env")
    tree, _ = image_tree("env")
    assert tree["home/app/out.txt"][2] == 1000  # written as the USER
    contents = read_files("env")
    assert contents["home/app/out.txt"] == b"hi world 1000:1000 /home/app /home/app\n"
    assert contents["home/app/exec.txt"] == b"exec form\n"
    assert contents["home/app/heredoc.txt"] == b"heredoc\n"
    assert contents["home/app/script.txt"] == b"script\n"
    assert contents["home/app/multi.txt"] == b"first world\nsecond $NAME\n"
    assert not [name for name in tree if "lamina-heredoc" in name]


def test_failing_run_stops_the_build(lamina: Run, ctx: Path, busybox: str) -> None:
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nRUN echo before; exit 3\nRUN echo never\n")
    result = lamina("build", str(ctx))
    assert result.code == 1
    assert "before" in result.out
    assert "never" not in result.out
    assert 'process "/bin/sh -c echo before; exit 3" did not complete successfully: exit ' \
           "code: 3" in result.err
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nRUN no-such-command\n")
    result = lamina("build", str(ctx))
    assert result.code == 1 and "exit code: 127" in result.err


def test_cached_run_does_not_run_again(lamina: Run, ctx: Path, busybox: str) -> None:
    write_files(ctx, {"input": "1"})
    dockerfile = f"FROM {busybox}\nRUN echo ran-once\nCOPY input /input\nRUN cat /input\n"
    first = build(lamina, ctx, dockerfile)
    assert "ran-once" in first.splitlines()
    second = build(lamina, ctx, dockerfile)
    assert "ran-once" not in second.splitlines()
    assert all(s.startswith("CACHED") for s in steps(second)[1:])
    (ctx / "input").write_text("2")
    third = build(lamina, ctx, dockerfile)
    assert "ran-once" not in third.splitlines()
    assert [s.startswith("CACHED") for s in steps(third)] == [False, True, False, False]


def test_network_none(lamina: Run, ctx: Path, busybox: str) -> None:
    out = build(lamina, ctx, f"FROM {busybox}\nRUN ls /sys/class/net || true\n",
                "--network", "none", "--no-cache")
    assert "eth0" not in out


def _can_run(lamina: Run) -> bool:
    return lamina("run", "--help").code == 0


def test_user_and_workdir_seen_by_lamina_run(lamina: Run, ctx: Path, busybox: str) -> None:
    if not _can_run(lamina):
        pytest.skip("lamina run is not available")
    build(lamina, ctx, f"FROM {busybox}\nWORKDIR /srv/app\nRUN echo built > f && rm /etc/group\n"
                       "USER app\n", "-t", "runme")
    result = lamina("run", "--rm", "runme", "sh", "-c",
                    "id -u; pwd; cat f; test -e /etc/group || echo gone")
    assert result.code == 0, result.err
    assert result.out.split() == ["1000", "/srv/app", "built", "gone"]


def test_onbuild_run_trigger(lamina: Run, ctx: Path, busybox: str,
                             read_files: Callable[[str], dict[str, bytes]]) -> None:
    build(lamina, ctx, f"FROM {busybox}\nONBUILD RUN echo triggered > /t\n", "-t", "trigger")
    out = build(lamina, ctx, "FROM trigger\nRUN cat /t\n", "-t", "triggered")
    assert "[1/2] ONBUILD RUN echo triggered > /t" in out
    assert read_files("triggered")["t"] == b"triggered\n"
    assert "t" not in read_files("trigger")  # the parent itself only carries the trigger


def test_run_has_the_supplementary_groups_docker_gives(lamina: Run, ctx: Path, busybox: str,
                                                       read_files: Callable[[str], dict[str, bytes]]
                                                       ) -> None:
    build(lamina, ctx, (
        f"FROM {busybox}\n"
        "RUN id > /root-id\n"
        "USER app\n"
        "RUN id > /tmp/app-id\n"
    ), "-t", "groups")
    files = read_files("groups")
    assert files["root-id"] == b"uid=0(root) gid=0(root) groups=0(root)\n"
    assert files["tmp/app-id"] == b"uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n"
