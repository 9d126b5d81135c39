"""``lamina build`` without RUN: files, owners and modes, config, stages, history, the cache."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from buildhelp import build_ok, steps, tar_of, write_files

from cli.conftest import Run

Tree = dict[str, tuple[str, int, int, int, str]]
ReadTree = Callable[[str], tuple[Tree, dict[str, Any]]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(lamina: Run, ctx: Path, dockerfile: str, *args: str) -> tuple[str, str]:
    """Build; return the image ID and the output."""
    out = build_ok(lamina, ctx, dockerfile, *args)
    if "-q" in args:
        return out.strip(), out
    written = [line for line in out.splitlines() if line.startswith("writing image ")]
    return written[-1].split()[2], out


def inspect(lamina: Run, ref: str) -> dict[str, Any]:
    result = lamina("inspect", ref)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)[0]
    return data


def test_copy_from_scratch_with_owner_and_modes(lamina: Run, ctx: Path, image_tree: ReadTree
                                                ) -> None:
    write_files(ctx, {"a.txt": "a\n", "dir/b.txt": "b\n", "dir/sub/c.txt": "c\n"})
    os.chmod(ctx / "dir/b.txt", 0o755)
    os.symlink("b.txt", ctx / "dir/link")
    image_id, out = build(lamina, ctx, (
        "FROM scratch\n"
        "COPY a.txt /a.txt\n"
        "COPY --chown=1:2 --chmod=640 a.txt /owned/\n"
        "COPY dir /d\n"
        "COPY --chown=5 dir/ /e/\n"
    ), "-t", "files")
    assert steps(out) == ["[1/5] FROM scratch", "[2/5] COPY a.txt /a.txt",
                          "[3/5] COPY --chown=1:2 --chmod=640 a.txt /owned/",
                          "[4/5] COPY dir /d", "[5/5] COPY --chown=5 dir/ /e/"]
    tree, config = image_tree("files")
    digest_a = sha(b"a\n")
    assert tree["a.txt"] == ("file", 0o644, 0, 0, digest_a)
    assert tree["owned"] == ("dir", 0o755, 1, 2, "")  # made for the copy: --chown applies
    assert tree["owned/a.txt"] == ("file", 0o640, 1, 2, digest_a)
    assert tree["d/b.txt"] == ("file", 0o755, 0, 0, sha(b"b\n"))
    assert tree["d/sub/c.txt"] == ("file", 0o644, 0, 0, sha(b"c\n"))
    assert tree["d/link"] == ("symlink", 0o777, 0, 0, "b.txt")
    assert tree["e/b.txt"][2:4] == (5, 5)  # a user without a group: the same number
    assert "dir" not in tree and "d/dir" not in tree  # a directory's contents, not itself
    assert config["config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert len(config["rootfs"]["diff_ids"]) == 4
    assert image_id == inspect(lamina, "files")["Id"]


def test_chown_by_name_through_the_images_passwd(lamina: Run, ctx: Path, busybox: str,
                                                 image_tree: ReadTree) -> None:
    write_files(ctx, {"f": "x"})
    build(lamina, ctx, f"FROM {busybox}\nCOPY --chown=app:staff f /f1\nCOPY --chown=app f /f2\n"
                       "COPY --chown=nobody:1 f /f3\n", "-t", "owned")
    build(lamina, ctx, f"FROM scratch\nCOPY --from={busybox} /home /from-image\n", "-t", "img")
    assert image_tree("img")[0]["from-image/app"][2:4] == (1000, 1000)  # owners kept
    tree, _ = image_tree("owned")
    assert tree["f1"][2:4] == (1000, 50)
    assert tree["f2"][2:4] == (1000, 1000)
    assert tree["f3"][2:4] == (65534, 1)
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nCOPY --chown=ghost f /f\n")
    result = lamina("build", str(ctx))
    assert result.code == 1
    assert "no such user: ghost" in result.err


def test_add_unpacks_local_tar_archives(lamina: Run, ctx: Path, image_tree: ReadTree) -> None:
    plain = tar_of([("x/one", b"1"), ("two", b"2")])
    (ctx / "plain.tar").write_bytes(plain)
    (ctx / "packed.tar.gz").write_bytes(gzip.compress(tar_of([("three", b"3")])))
    (ctx / "notatar.gz").write_bytes(b"just bytes")
    build(lamina, ctx, "FROM scratch\nADD plain.tar /p/\nADD packed.tar.gz /z\n"
                       "ADD notatar.gz /raw/\nCOPY plain.tar /copied.tar\n", "-t", "added")
    tree, _ = image_tree("added")
    assert tree["p/x/one"] == ("file", 0o640, 7, 8, sha(b"1"))  # the archive's own owners
    assert tree["p/two"][4] == sha(b"2")
    assert tree["z/three"][4] == sha(b"3")
    assert tree["raw/notatar.gz"][4] == sha(b"just bytes")
    assert tree["copied.tar"][4] == sha(plain)  # COPY never unpacks


def test_add_from_git_is_refused(lamina: Run, ctx: Path) -> None:
    (ctx / "Dockerfile").write_text("FROM scratch\nADD git@example.com:a/b.git /x\n")
    result = lamina("build", str(ctx))
    assert result.code == 1
    assert "line 2: ADD from git is not supported" in result.err


def test_multi_stage_copy_from_and_target(lamina: Run, ctx: Path, image_tree: ReadTree) -> None:
    write_files(ctx, {"src.txt": "source\n"})
    dockerfile = (
        "FROM scratch AS build\n"
        "COPY src.txt /out/built.txt\n"
        "FROM does-not-exist.invalid/unused:1 AS unused\n"
        "FROM scratch AS second\n"
        "COPY --from=build /out /from-name\n"
        "COPY --from=0 /out/built.txt /from-index.txt\n"
        "FROM second\n"
        "COPY --from=second /from-index.txt /again.txt\n"
    )
    _, out = build(lamina, ctx, dockerfile, "-t", "multi")
    assert "unused" not in out  # not needed: never built, its base never looked up
    assert "[build 2/2] COPY src.txt /out/built.txt" in out
    tree, _ = image_tree("multi")
    assert set(tree) == {"from-name", "from-name/built.txt", "from-index.txt", "again.txt"}
    _, out = build(lamina, ctx, dockerfile, "--target", "build", "-t", "first")
    assert "second" not in out
    tree, _ = image_tree("first")
    assert set(tree) == {"out", "out/built.txt"}
    result = lamina("build", "--target", "nope", str(ctx))
    assert result.code == 1
    assert 'target stage "nope" could not be found' in result.err


def test_arg_and_env_expansion(lamina: Run, ctx: Path, busybox: str, image_tree: ReadTree) -> None:
    write_files(ctx, {"v1.txt": "one", "v2.txt": "two"})
    dockerfile = (
        "ARG BASE=busybox\n"
        "ARG TAG=test\n"
        "FROM ${BASE}:$TAG\n"
        "ARG TAG\n"
        "ARG VERSION=1\n"
        "ENV APP_HOME=/srv/app DIR=${UNSET:-data}\n"
        "ENV OLD=$APP_HOME APP_HOME=/elsewhere\n"
        "WORKDIR $APP_HOME\n"
        "COPY v${VERSION}.txt ./$DIR/\n"
        'LABEL version="$VERSION" tag=${TAG} quoted=\'$VERSION\'\n'
        "USER ${NOBODY:-app}\n"
    )
    build(lamina, ctx, dockerfile, "-t", "expanded")
    tree, config = image_tree("expanded")
    assert tree["elsewhere/data/v1.txt"][4] == sha(b"one")
    cfg = config["config"]
    assert "OLD=/srv/app" in cfg["Env"] and "APP_HOME=/elsewhere" in cfg["Env"]
    assert cfg["Labels"] == {"version": "1", "tag": "test", "quoted": "$VERSION"}
    assert cfg["WorkingDir"] == "/elsewhere"
    assert cfg["User"] == "app"
    build(lamina, ctx, dockerfile, "--build-arg", "VERSION=2", "-t", "expanded2")
    tree, config = image_tree("expanded2")
    assert tree["elsewhere/data/v2.txt"][4] == sha(b"two")
    assert config["config"]["Labels"]["version"] == "2"


def test_unused_build_args_are_reported(lamina: Run, ctx: Path) -> None:
    _, out = build(lamina, ctx, "FROM scratch\nARG USED\nLABEL x=$USED\n", "--build-arg",
                   "USED=1", "--build-arg", "UNUSED=2")
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out


def test_metadata_instructions(lamina: Run, ctx: Path, busybox: str) -> None:
    build(lamina, ctx, (
        f"FROM {busybox}\n"
        "MAINTAINER someone@example.com\n"
        "EXPOSE 80 443/udp 8000-8001\n"
        "VOLUME /data [\"/not-json\"\n"
        'VOLUME ["/logs"]\n'
        "STOPSIGNAL SIGQUIT\n"
        "HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD wget -q localhost\n"
        'SHELL ["/bin/sh", "-ec"]\n'
        "ENTRYPOINT echo hi\n"
        "ONBUILD RUN echo child\n"
    ), "-t", "meta")
    data = inspect(lamina, "meta")
    cfg = data["Config"]
    assert data["Author"] == "someone@example.com"
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "443/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert set(cfg["Volumes"]) == {"/data", "[/not-json", "/logs"}  # the shell form, quotes gone
    assert cfg["StopSignal"] == "SIGQUIT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost"],
                                  "Interval": 30 * 10**9, "Timeout": 90 * 10**9, "Retries": 3}
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-ec", "echo hi"]
    assert cfg.get("Cmd") is None  # an ENTRYPOINT resets the CMD inherited from the base
    assert cfg["OnBuild"] == ["RUN echo child"]


def test_history_shows_each_step_and_empty_layers(lamina: Run, ctx: Path, busybox: str) -> None:
    write_files(ctx, {"f": "x"})
    image_id, _ = build(lamina, ctx, f"FROM {busybox}\nENV A=1\nCOPY f /f\nCMD [\"sh\"]\n",
                        "-t", "hist")
    result = lamina("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "hist")
    rows = [line.split("|") for line in result.out.splitlines()]
    assert rows[0] == [image_id, 'CMD ["sh"]', "0B"]
    assert rows[1][1] == "COPY f /f # buildkit" and rows[1][2] == "1B"
    assert rows[2][1] == "ENV A=1" and rows[2][2] == "0B"
    assert all(row[0].startswith("sha256:") for row in rows[:4])  # each step is an image
    assert inspect(lamina, "hist")["Parent"] == rows[1][0]


def test_second_build_is_all_cached_with_the_same_id(lamina: Run, ctx: Path, busybox: str) -> None:
    write_files(ctx, {"a": "a", "b": "b"})
    dockerfile = f"FROM {busybox}\nCOPY a /a\nENV X=1\nCOPY b /b\nWORKDIR /w\nCMD [\"sh\"]\n"
    first, out1 = build(lamina, ctx, dockerfile)
    assert not [s for s in steps(out1) if s.startswith("CACHED")]
    second, out2 = build(lamina, ctx, dockerfile, "-t", "again")
    assert second == first
    assert steps(out2)[1:] == ["CACHED " + s for s in steps(out1)[1:]]
    # Changing one source rebuilds from its step on, and only from there.
    (ctx / "b").write_text("changed")
    third, out3 = build(lamina, ctx, dockerfile)
    assert third != first
    assert [s.startswith("CACHED") for s in steps(out3)] == [False, True, True, False, False,
                                                             False]
    # A mode is part of a source too.
    os.chmod(ctx / "a", 0o600)
    _, out4 = build(lamina, ctx, dockerfile)
    assert not steps(out4)[1].startswith("CACHED")
    # --no-cache builds every step again.
    _, out5 = build(lamina, ctx, dockerfile, "--no-cache")
    assert not [s for s in steps(out5) if s.startswith("CACHED")]


def test_build_arg_values_are_part_of_the_cache_key(lamina: Run, ctx: Path) -> None:
    dockerfile = "FROM scratch\nARG V=1\nLABEL a=b\n"
    first, _ = build(lamina, ctx, dockerfile)
    second, out = build(lamina, ctx, dockerfile, "--build-arg", "V=2")
    assert first != second
    assert not [s for s in steps(out) if s.startswith("CACHED")]


def test_source_date_epoch_makes_builds_reproducible(lamina: Run, ctx: Path) -> None:
    write_files(ctx, {"a": "a"})
    dockerfile = "FROM scratch\nCOPY a /a\nENV A=1\n"
    args = ("--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000")
    first, _ = build(lamina, ctx, dockerfile, *args)
    os.utime(ctx / "a", (1800000000, 1800000000))
    second, _ = build(lamina, ctx, dockerfile, *args)
    assert first == second
    config = inspect(lamina, first)
    assert config["Created"] == "2023-11-14T22:13:20Z"


def test_source_date_epoch_from_the_environment(lamina: Run, ctx: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings carry $SOURCE_DATE_EPOCH from the command's environment to the builder."""
    write_files(ctx, {"a": "a"})
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    image, _ = build(lamina, ctx, "FROM scratch\nCOPY a /a\n", "--no-cache")
    assert inspect(lamina, image)["Created"] == "2023-11-14T22:13:20Z"


def test_onbuild_triggers_run_in_the_child(lamina: Run, ctx: Path, busybox: str,
                                           image_tree: ReadTree) -> None:
    write_files(ctx, {"app.txt": "app"})
    build(lamina, ctx, f"FROM {busybox}\nONBUILD COPY app.txt /onbuild/\nONBUILD ENV B=2\n",
          "-t", "parent")
    (ctx / "app.txt").write_text("child's")
    _, out = build(lamina, ctx, "FROM parent\nLABEL child=1\n", "-t", "child")
    assert "[1/2] ONBUILD COPY app.txt /onbuild/" in out
    tree, config = image_tree("child")
    assert tree["onbuild/app.txt"][4] == sha(b"child's")
    assert "B=2" in config["config"]["Env"]
    assert not config["config"].get("OnBuild")


def test_user_and_workdir(lamina: Run, ctx: Path, busybox: str, layer_tars: Any) -> None:
    build(lamina, ctx, f"FROM {busybox}\nWORKDIR /tmp\nWORKDIR rel/dir\nUSER app:staff\n"
                       "WORKDIR /home/app/work\n", "-t", "wd")
    cfg = inspect(lamina, "wd")["Config"]
    assert cfg["WorkingDir"] == "/home/app/work"
    assert cfg["User"] == "app:staff"
    layers = layer_tars("wd")
    assert len(layers) == 3  # /tmp existed: no layer
    assert [m.name for m in layers[1]] == ["tmp", "tmp/rel", "tmp/rel/dir"]
    made = {m.name: (m.uid, m.gid) for m in layers[2]}
    assert made["home/app/work"] == (1000, 50)  # made as the USER in effect


def test_dockerignore_and_context_escapes(lamina: Run, ctx: Path, image_tree: ReadTree,
                                          tmp_path: Path) -> None:
    write_files(ctx, {"keep.txt": "k", "secret.key": "s", "logs/a.log": "l", "logs/keep.log": "k",
                      "docs/README.md": "r", "docs/x.md": "x", "tmp/a/b": "b", "tmp/a/c": "c",
                      "tmp/d/e": "e"})
    (ctx / ".dockerignore").write_text("*.key\nlogs/*.log\n!logs/keep.log\ndocs/*.md\n"
                                       "!docs/README.md\ntmp\n!tmp/a/c\n")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(str(tmp_path / "outside.txt"), ctx / "abs-link")
    os.symlink("../outside.txt", ctx / "rel-link")
    build(lamina, ctx, "FROM scratch\nCOPY . /c/\n", "-t", "ignored")
    tree, _ = image_tree("ignored")
    assert "c/keep.txt" in tree and "c/logs/keep.log" in tree and "c/docs/README.md" in tree
    assert "c/secret.key" not in tree and "c/logs/a.log" not in tree and "c/docs/x.md" not in tree
    # An ignored directory: only what an exception brings back, with its parents.
    assert {k for k in tree if k.startswith("c/tmp")} == {"c/tmp", "c/tmp/a", "c/tmp/a/c"}
    assert tree["c/abs-link"][0] == "symlink"  # copied as links, never followed
    for dockerfile, message in [
        ("FROM scratch\nCOPY secret.key /\n", "file not found in build context or excluded"),
        ("FROM scratch\nCOPY ../outside.txt /\n", "forbidden path outside the build context"),
        ("FROM scratch\nCOPY abs-link /x\n", "file not found in build context"),
        ("FROM scratch\nCOPY rel-link /x\n", "file not found in build context"),
        ("FROM scratch\nCOPY missing* /x/\n", "file not found in build context"),
    ]:
        (ctx / "Dockerfile").write_text(dockerfile)
        result = lamina("build", str(ctx))
        assert result.code == 1, dockerfile
        assert message in result.err, (dockerfile, result.err)


def test_an_ignore_file_beside_the_dockerfile_wins(lamina: Run, ctx: Path, tmp_path: Path,
                                                   image_tree: ReadTree) -> None:
    write_files(ctx, {"a": "a", "b": "b", ".dockerignore": "a\n"})
    build(lamina, ctx, "FROM scratch\nCOPY . /c/\n", "-t", "default-ignore")
    assert {"c/b"} <= set(image_tree("default-ignore")[0]) and \
        "c/a" not in image_tree("default-ignore")[0]
    other = tmp_path / "app.Dockerfile"
    other.write_text("FROM scratch\nCOPY . /c/\n")
    (tmp_path / "app.Dockerfile.dockerignore").write_text("b\n")
    assert lamina("build", "-f", str(other), "-t", "own-ignore", str(ctx)).code == 0
    tree = image_tree("own-ignore")[0]
    assert "c/a" in tree and "c/b" not in tree


def test_wildcards_and_several_sources(lamina: Run, ctx: Path, image_tree: ReadTree) -> None:
    write_files(ctx, {"a1.txt": "1", "a2.txt": "2", "b.txt": "b", "sub/a3.txt": "3"})
    build(lamina, ctx, "FROM scratch\nCOPY a?.txt b.txt /dest/\nCOPY */a*.txt /deep/\n",
          "-t", "wild")
    tree, _ = image_tree("wild")
    assert {k for k in tree if k.startswith("dest/")} == {"dest/a1.txt", "dest/a2.txt",
                                                          "dest/b.txt"}
    assert "deep/a3.txt" in tree
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a1.txt b.txt /dest\n")
    result = lamina("build", str(ctx))
    assert "the destination must be a directory and end with a /" in result.err


def test_destinations_follow_symlinks_only_inside_the_rootfs(
        lamina: Run, ctx: Path, busybox: str, image_tree: ReadTree, tmp_path: Path) -> None:
    write_files(ctx, {"tool": "#!/bin/sh\n", "f": "f"})
    # An image whose symlinks point at absolute paths and climb with "..".
    escape = tmp_path / "escape-target"
    escape.mkdir()
    build(lamina, ctx, f"FROM {busybox}\nCOPY f /real/f\n", "-t", "links-base")
    layer = tar_of([])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, target in (("abs", str(escape)), ("up", "../../../../" + str(escape)),
                             ("loop", "loop")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    del layer
    (ctx / "links.tar").write_bytes(buf.getvalue())
    build(lamina, ctx, "FROM links-base\nADD links.tar /\nCOPY tool /usr/local/bin/\n"
                       "COPY f /abs/in-abs\nCOPY f /up/in-up\n", "-t", "links")
    tree, _ = image_tree("links")
    assert "bin/tool" in tree  # /usr/local/bin -> /bin, inside the image
    escaped = str(escape).lstrip("/")
    assert f"{escaped}/in-abs" in tree and f"{escaped}/in-up" in tree
    assert list(escape.iterdir()) == []  # nothing written on the host
    (ctx / "Dockerfile").write_text("FROM links\nCOPY f /loop/x\n")
    result = lamina("build", str(ctx))
    assert result.code == 1 and "too many levels of symbolic links" in result.err


def test_copy_heredoc(lamina: Run, ctx: Path, image_tree: ReadTree) -> None:
    build(lamina, ctx, (
        "FROM scratch\n"
        "ARG WHO=world\n"
        "COPY --chmod=755 <<EOF /greet.sh\n"
        "#!/bin/sh\n"
        'echo "hello $WHO"\n'
        "EOF\n"
        "COPY <<'RAW' <<-TABS /docs/\n"
        "$WHO stays\n"
        "RAW\n"
        "\tindented $WHO\n"
        "\tTABS\n"
    ), "-t", "heredoc")
    tree, _ = image_tree("heredoc")
    assert tree["greet.sh"] == ("file", 0o755, 0, 0, sha(b'#!/bin/sh\necho "hello world"\n'))
    assert tree["docs/RAW"][4] == sha(b"$WHO stays\n")
    assert tree["docs/TABS"][4] == sha(b"indented world\n")


def test_quiet_iidfile_labels_and_tags(lamina: Run, ctx: Path, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    image_id, out = build(lamina, ctx, "FROM scratch\nLABEL a=1\n", "-q", "--iidfile", str(iid),
                          "--label", "b=2", "-t", "one", "-t", "two:v2")
    assert out.strip() == image_id and image_id.startswith("sha256:")
    assert iid.read_text() == image_id
    data = inspect(lamina, "two:v2")
    assert data["Id"] == image_id
    assert data["Config"]["Labels"] == {"a": "1", "b": "2"}
    assert sorted(data["RepoTags"]) == ["one:latest", "two:v2"]


def test_context_and_dockerfile_from_stdin(lamina: Run, ctx: Path, tmp_path: Path,
                                           image_tree: ReadTree) -> None:
    context = tar_of([("Dockerfile", b"FROM scratch\nCOPY x /x\n"), ("x", b"from stdin")])
    result = lamina("build", "-t", "stdin", "-", stdin=context)
    assert result.code == 0, result.err
    tree, _ = image_tree("stdin")
    assert tree["x"][4] == sha(b"from stdin")
    result = lamina("build", "-t", "xz", "-", stdin=lzma.compress(context))
    assert result.code == 0, result.err
    assert image_tree("xz")[0]["x"][4] == sha(b"from stdin")
    result = lamina("build", "-t", "plain", "-", stdin=b"FROM scratch\nLABEL only=dockerfile\n")
    assert result.code == 0, result.err
    write_files(ctx, {"y": "y"})
    result = lamina("build", "-f", "-", "-t", "f-stdin", str(ctx), stdin=b"FROM scratch\nCOPY y /\n")
    assert result.code == 0, result.err
    other = tmp_path / "Other.dockerfile"
    other.write_text("FROM scratch\nCOPY y /z\n")
    result = lamina("build", "-f", str(other), "-t", "f-file", str(ctx))
    assert result.code == 0, result.err
    assert "z" in image_tree("f-file")[0]


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM scratch\nRUN a\nFRM x\n", "Error: dockerfile parse error on line 3: unknown "
                                     "instruction: FRM"),
    ("FROM scratch\nCOPY --chmod=u+x a /\n", "line 2: invalid chmod parameter"),
    ("FROM scratch\nRUN --mount=type=cache,target=/x true\n", "RUN --mount is not supported"),
    ("FROM missing.invalid/nothing:1\n", "missing.invalid"),
    ("FROM scratch\nSTOPSIGNAL SIGNOPE\n", "invalid signal: SIGNOPE"),
    ("FROM scratch\nEXPOSE 80/foo\n", "invalid proto: foo"),
])
def test_errors(lamina: Run, ctx: Path, dockerfile: str, message: str) -> None:
    (ctx / "Dockerfile").write_text(dockerfile)
    result = lamina("build", str(ctx))
    assert result.code == 1
    assert message in result.err


def test_missing_context_and_dockerfile(lamina: Run, tmp_path: Path, ctx: Path) -> None:
    result = lamina("build", str(tmp_path / "nope"))
    assert result.code == 1 and "unable to prepare context" in result.err
    result = lamina("build", str(ctx))
    assert result.code == 1 and "Dockerfile" in result.err
    result = lamina("build", "-t", "Bad:Name", str(ctx))
    assert result.code == 1 and "invalid reference format" in result.err


def test_copy_keeps_file_capabilities_and_user_xattrs(lamina: Run, ctx: Path,
                                                     layer_tars: Any) -> None:
    write_files(ctx, {"tool": "t"})
    try:
        os.setxattr(ctx / "tool", "user.origin", b"context")
    except OSError:
        pytest.skip("the filesystem of the test has no user xattrs")
    build(lamina, ctx, "FROM scratch\nCOPY tool /tool\n", "-t", "xattrs")
    (member,) = layer_tars("xattrs")[0]
    assert member.pax_headers.get("SCHILY.xattr.user.origin") == "context"


def test_copy_keeps_hard_links(lamina: Run, ctx: Path, layer_tars: Any) -> None:
    write_files(ctx, {"d/one": "same"})
    os.link(ctx / "d/one", ctx / "d/two")
    build(lamina, ctx, "FROM scratch\nCOPY d /d\n", "-t", "links")
    members = {m.name: m for m in layer_tars("links")[0]}
    assert members["d/one"].isfile()
    assert members["d/two"].islnk() and members["d/two"].linkname == "d/one"


def test_heredoc_names_stay_in_the_destination(lamina: Run, ctx: Path, image_tree: ReadTree,
                                               tmp_path: Path) -> None:
    build(lamina, ctx, "FROM scratch\nCOPY <<../../../../escaped /d/\nx\n../../../../escaped\n",
          "-t", "named")
    assert set(image_tree("named")[0]) == {"d", "d/escaped"}
    assert all(str(p).endswith("/fs/d/escaped") for p in tmp_path.rglob("escaped"))


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on loopback serving a directory of the test's own."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "served"
    served.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_add_downloads_urls(lamina: Run, ctx: Path, image_tree: ReadTree,
                            http_files: tuple[str, Path]) -> None:
    url, served = http_files
    packed = gzip.compress(tar_of([("inside", b"x")]))
    (served / "archive.tar.gz").write_bytes(packed)
    (served / "plain.txt").write_text("one")
    dockerfile = (f"FROM scratch\nADD {url}/archive.tar.gz /dl/\n"
                  f"ADD --chmod=644 {url}/plain.txt /named.txt\n")
    build(lamina, ctx, dockerfile, "-t", "downloaded")
    tree, _ = image_tree("downloaded")
    assert tree["dl/archive.tar.gz"] == ("file", 0o600, 0, 0, sha(packed))  # never unpacked
    assert tree["named.txt"] == ("file", 0o644, 0, 0, sha(b"one"))
    _, again = build(lamina, ctx, dockerfile)
    assert all(s.startswith("CACHED") for s in steps(again)[1:])
    (served / "plain.txt").write_text("two")
    _, changed = build(lamina, ctx, dockerfile)
    assert [s.startswith("CACHED") for s in steps(changed)] == [False, True, False]
    for text, message in [(f"FROM scratch\nCOPY {url}/plain.txt /x\n",
                           "source can't be a URL for COPY"),
                          (f"FROM scratch\nADD {url}/missing /x\n", "HTTP 404")]:
        (ctx / "Dockerfile").write_text(text)
        result = lamina("build", str(ctx))
        assert result.code == 1 and message in result.err
