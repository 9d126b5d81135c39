"""The same Dockerfile built by lamina and by ``buildah bud`` gives the same files, modes,
owners and config (file trees compared, not digests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from buildhelp import runc_available, tar_of, tree_of_docker_archive, write_files

from cli.conftest import Run

pytestmark = [
    pytest.mark.peer,
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah"),
    pytest.mark.skipif(os.geteuid() != 0, reason="buildah bud --isolation chroot needs root"),
]

# What buildah adds on its own: mount stubs of its chroot isolation, its version label.
BUILDAH_ONLY_PATHS = {"etc/hostname", "etc/hosts", "etc/resolv.conf", "run"}
CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "User", "WorkingDir", "Labels", "ExposedPorts",
                 "Volumes", "StopSignal", "Shell", "Healthcheck", "OnBuild")

WITHOUT_RUN = """\
ARG BASE
FROM ${BASE} AS base
ARG V=1
ENV APP=/srv/app PATH=/usr/local/bin:$PATH
LABEL version=$V maintainer="x y"
WORKDIR $APP
COPY a.txt .
COPY --chown=app:staff --chmod=640 a.txt /owned/a.txt
COPY --chown=1000 dir /copied/
COPY dir/ /copied2
COPY d?r/sub/* /globbed/
ADD arch.tar /unpacked/
ADD arch.tar plain.txt /both/
COPY ["a.txt", "/json form/"]
COPY dir/sub /new-sub
COPY dir /tmp
COPY --chown=5:5 dir /root/
FROM base
COPY --from=base /srv/app/a.txt /from-stage.txt
USER app
WORKDIR /home/app/w
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
"""

WITH_RUN = """\
ARG BASE
FROM ${BASE}
ARG GREETING=hello
ENV NAME=world
WORKDIR /srv
RUN echo "$GREETING $NAME" > out.txt && rm /etc/group && mkdir -p /made/deep && chmod 750 /made
RUN mkdir /tmp/x && echo 1 > /tmp/x/f && rm -rf /tmp/x && mkdir /tmp/x && chown app /tmp/x
USER app
RUN echo "$(id -u) $(pwd)" > /home/app/who
"""


def _buildah(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["buildah", "--storage-driver", "vfs", "--root", str(root / "root"),
            "--runroot", str(root / "run"), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)


def _context(ctx: Path) -> None:
    write_files(ctx, {"a.txt": "a\n", "dir/b": "b\n", "dir/sub/c": "c\n", "plain.txt": "p"})
    os.chmod(ctx / "dir/sub", 0o700)
    os.chmod(ctx / "dir/b", 0o755)
    os.symlink("b", ctx / "dir/blink")
    (ctx / "arch.tar").write_bytes(tar_of([("x/one", b"1"), ("two", b"2")]))


def _compare(lamina: Run, busybox: str, tmp_path: Path, dockerfile: str,
             image_tree: Callable[[str], tuple[dict[str, Any], dict[str, Any]]]) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    _context(ctx)
    (ctx / "Dockerfile").write_text(dockerfile)
    base_archive = tmp_path / "base.tar"
    assert lamina("save", "-o", str(base_archive), busybox).code == 0
    result = lamina("build", "--build-arg", f"BASE={busybox}", "-t", "lamina-built", str(ctx))
    assert result.code == 0, result.out + result.err
    ours, our_config = image_tree("lamina-built")

    storage = tmp_path / "buildah"
    built = _buildah(storage, "bud", "--isolation", "chroot", "-q", "--build-arg",
                     f"BASE=docker-archive:{base_archive}", "-t", "peer", str(ctx))
    assert built.returncode == 0, built.stderr
    exported = tmp_path / "peer.tar"
    pushed = _buildah(storage, "push", "-q", "peer", f"docker-archive:{exported}")
    assert pushed.returncode == 0, pushed.stderr
    theirs, their_config = tree_of_docker_archive(exported)
    for path in BUILDAH_ONLY_PATHS:
        if path not in ours:
            theirs.pop(path, None)

    differences = {path: (ours.get(path), theirs.get(path))
                   for path in sorted(set(ours) | set(theirs)) if ours.get(path) != theirs.get(path)}
    assert differences == {}
    ours_cfg, theirs_cfg = our_config["config"], their_config["config"]
    (theirs_cfg.get("Labels") or {}).pop("io.buildah.version", None)
    for name in CONFIG_FIELDS:
        assert (ours_cfg.get(name) or None) == (theirs_cfg.get(name) or None), name


def test_same_as_buildah_without_run(lamina: Run, busybox: str, tmp_path: Path,
                                     image_tree: Any) -> None:
    _compare(lamina, busybox, tmp_path, WITHOUT_RUN, image_tree)


@pytest.mark.skipif(not runc_available(), reason="needs runc or crun")
def test_same_as_buildah_with_run(lamina: Run, busybox: str, tmp_path: Path,
                                  image_tree: Any) -> None:
    _compare(lamina, busybox, tmp_path, WITH_RUN, image_tree)
