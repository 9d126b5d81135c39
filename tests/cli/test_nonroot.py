"""lamina as an ordinary user: every command works, or fails with one line saying what it needs.

The commands run as ``nobody`` (``setpriv --reuid``; no user is added to the machine), on a
store of that user's own. Image, registry and read-only container commands work; those that
need mounts say that they need root, in one line, with docker's exit code (125 for ``run``);
none prints a traceback or leaves anything behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.busybox import busybox_tar
from helpers.images import make_docker_legacy_archive, make_image
from registry.servers import Server

NOBODY = 65534
NEEDS_ROOT = "needs root; rootless mode is not supported yet"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="switching to another user needs root and setpriv")


def _as_nobody(extra_caps: bool) -> list[str]:
    argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if extra_caps:
        # This interpreter lives where only root may look (a Python under /root): let the
        # user search directories, and nothing more. Mounting still needs CAP_SYS_ADMIN.
        argv += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return argv


@pytest.fixture(scope="module")
def as_nobody() -> list[str]:
    for extra in (False, True):
        argv = _as_nobody(extra)
        if subprocess.run([*argv, sys.executable, "-c", "import lamina"],
                          capture_output=True).returncode == 0:
            return argv
    pytest.skip("this Python cannot be run by another user")


@pytest.fixture
def home() -> Iterator[Path]:
    """A directory of the user's own (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="lamina-nonroot-"))
    os.chown(path, NOBODY, NOBODY)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class User:
    def __init__(self, prefix: list[str], home: Path) -> None:
        self.prefix = prefix
        self.home = home
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                    "LAMINA_ROOT": str(home / "store"), "LAMINA_CONFIG": str(home / "none.toml"),
                    "DOCKER_CONFIG": str(home / "docker")}

    def __call__(self, *argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, sys.executable, "-m", "lamina", *argv],
                              env=self.env, cwd=self.home, capture_output=True, timeout=120,
                              input=stdin.decode() if stdin is not None else None, text=True)

    def file(self, name: str, data: bytes) -> str:
        path = self.home / name
        path.write_bytes(data)
        os.chown(path, NOBODY, NOBODY)
        return str(path)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_every_command_works_or_says_it_needs_root(as_nobody: list[str], home: Path,
                                                   lamina_registry: Server) -> None:
    user = User(as_nobody, home)
    # Images: all work.
    rootfs = user.file("rootfs.tar", busybox_tar())
    done = user("import", rootfs, "bb:1")
    assert done.returncode == 0, done.stderr
    archive = user.file("image.tar", make_docker_legacy_archive(
        [(make_image([{"etc/hello": b"hi\n"}]), ["hello:1"])]))
    for argv in (["load", "-i", archive], ["images"], ["tag", "bb:1", "bb:2"],
                 ["history", "bb:1"], ["inspect", "bb:1"], ["save", "-o", "saved.tar", "bb:1"],
                 ["rmi", "bb:2"], ["system", "df"], ["image", "prune", "-f"],
                 ["tag", "hello:1", f"{lamina_registry.host}/nonroot/hello:1"],
                 ["push", f"{lamina_registry.host}/nonroot/hello:1"],
                 ["rmi", f"{lamina_registry.host}/nonroot/hello:1"],
                 ["pull", f"{lamina_registry.host}/nonroot/hello:1"],
                 ["create", "--name", "c1", "bb:1", "echo", "hi"], ["ps", "-a"],
                 ["inspect", "c1"], ["diff", "c1"], ["logs", "c1"], ["rename", "c1", "c2"],
                 ["commit", "c2", "committed:1"], ["stop", "c2"], ["wait", "c2"],
                 ["stats", "--no-stream", "c2"]):
        done = user(*argv)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (argv, done.stderr)
    # Running containers: one line saying what is needed, docker's exit code, nothing left.
    before = user("ps", "-aq").stdout
    done = user("run", "--rm", "bb:1", "echo", "hi")
    assert done.returncode == 125
    assert one_line_error(done) == f"Error: running containers {NEEDS_ROOT}"
    done = user("run", "-d", "--name", "never", "bb:1", "sleep", "9")
    assert done.returncode == 125 and one_line_error(done).endswith(NEEDS_ROOT)
    assert user("ps", "-aq").stdout == before  # nothing created, nothing pulled
    done = user("start", "c2")  # (then docker's last line naming what did not start)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"Error: running containers {NEEDS_ROOT}",
                                        "Error: failed to start containers: c2"]
    for argv, code in ((["restart", "c2"], 1), (["cp", "c2:/etc/passwd", "-"], 125),
                       (["export", "c2"], 125)):
        done = user(*argv)
        assert done.returncode == code, (argv, done.stderr)
        assert one_line_error(done).endswith(NEEDS_ROOT), argv
    # Commands on a container that cannot be running: docker's "not running" answers.
    for argv in (["exec", "c2", "true"], ["kill", "c2"], ["pause", "c2"], ["top", "c2"]):
        done = user(*argv)
        assert done.returncode != 0 and "is not running" in one_line_error(done), argv
    dockerfile = user.file("Dockerfile", b"FROM bb:1\nRUN echo hi\n")
    done = user("build", "-q", "-f", dockerfile, str(home))
    assert done.returncode == 1 and one_line_error(done).endswith(NEEDS_ROOT), done.stderr
    for argv in (["rm", "c2"], ["container", "prune", "-f"], ["image", "prune", "-a", "-f"]):
        done = user(*argv)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (argv, done.stderr)
    # The user's store is theirs alone, and nothing is left mounted.
    assert str(home) not in Path("/proc/self/mountinfo").read_text()
    for path in (home / "store").rglob("*"):
        assert path.lstat().st_uid == NOBODY, path


def test_a_store_the_user_may_not_write_is_one_line(as_nobody: list[str], home: Path) -> None:
    user = User(as_nobody, home)
    store = home / "store"
    store.mkdir(mode=0o755)  # root's
    done = user("images")
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert str(store) in one_line_error(done)
