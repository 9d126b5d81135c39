"""Image paths resolved inside the rootfs, whatever the symlinks (no root needed: temp dirs)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lamina.errors import ContainerError
from lamina.image import _confine
from lamina.runtime.rootpath import RootFS, in_kernel_dir
from lamina.runtime.users import resolve_user


@pytest.fixture(autouse=True, params=["openat2", "walker"])
def implementation(request: pytest.FixtureRequest) -> object:
    """Every test here runs through both ways of the one confinement module: the kernel's
    openat2(RESOLVE_IN_ROOT), and the walker used where the kernel lacks it."""
    _confine.use_openat2(request.param == "openat2")
    yield request.param
    _confine.use_openat2(None)


def test_openat2_is_what_runs_where_the_kernel_has_it(rootfs: Path, implementation: str
                                                      ) -> None:
    os.symlink("../../../../bin/tool", rootfs / "etc" / "up")
    fd = RootFS(rootfs).open("/etc/up")
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(rootfs / "bin" / "tool"))
    finally:
        os.close(fd)
    if implementation == "walker":
        assert _confine._Openat2.available is False
    elif _confine._Openat2.available is False:
        pytest.skip("this kernel has no openat2 (before 5.6, or refused by seccomp)")
    else:
        assert _confine._Openat2.available is True


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    os.chmod(root / "bin" / "tool", 0o755)
    (root / "bin" / "data").write_text("not a program\n")
    return root


def test_symlinks_resolve_inside_the_root(rootfs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_text("host secret\n")
    os.symlink(str(outside), rootfs / "etc" / "abs")
    os.symlink("../../../../../../" + str(outside), rootfs / "etc" / "rel")
    os.symlink("/", rootfs / "up")
    fs = RootFS(rootfs)
    assert fs.resolve("/etc/abs") == str(outside)  # as a path *inside* the rootfs
    assert fs.read("/etc/abs") is None
    assert fs.read("/etc/rel") is None
    assert fs.resolve("/up/up/../etc") == "/etc"
    assert fs.resolve("../../etc/passwd") == "/etc/passwd"


def test_loops_and_non_files(rootfs: Path) -> None:
    os.symlink("b", rootfs / "a")
    os.symlink("a", rootfs / "b")
    os.mkfifo(rootfs / "etc" / "fifo")
    fs = RootFS(rootfs)
    with pytest.raises(ContainerError, match="too many levels"):
        fs.resolve("/a")
    assert fs.read("/etc/fifo") is None  # a fifo must not hang us
    assert fs.read("/etc") is None
    if os.geteuid() == 0:  # a device node of the image (/dev/null's numbers) is not opened
        os.mknod(rootfs / "etc" / "dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        assert fs.read("/etc/dev") is None


def test_makedirs_refuses_kernel_dirs(rootfs: Path, tmp_path: Path) -> None:
    os.symlink("/proc/self/fd/7", rootfs / "work")
    fs = RootFS(rootfs)
    for path in ("/proc/self/fd/5", "/work", "/work/sub", "/sys/x", "/dev/../proc/1/cwd"):
        with pytest.raises(ContainerError, match="refused"):
            fs.makedirs(path)
    assert not (rootfs / "proc" / "self").exists()
    assert fs.makedirs("/app/data") == "/app/data"
    assert (rootfs / "app" / "data").is_dir()
    assert in_kernel_dir("/proc") and not in_kernel_dir("/procs")


def test_find_executable(rootfs: Path) -> None:
    fs = RootFS(rootfs)
    assert fs.find_executable("tool", "/usr/bin:/bin") == ("/bin/tool", 0)
    assert fs.find_executable("/bin/tool", "") == ("/bin/tool", 0)
    assert fs.find_executable("nosuch", "/bin") == (None, 127)
    assert fs.find_executable("/bin/data", "") == ("/bin/data", 126)
    assert fs.find_executable("/bin", "") == ("/bin", 126)


def test_users_from_the_image_only(rootfs: Path, tmp_path: Path) -> None:
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nstaff:x:50:alice\nalice:x:1000:\n")
    fs = RootFS(rootfs)
    alice = resolve_user(fs, "alice")
    assert (alice.uid, alice.gid, alice.additional_gids, alice.home) == (1000, 1000, (50,),
                                                                        "/home/alice")
    assert resolve_user(fs, "").uid == 0
    assert resolve_user(fs, "4242").home == "/"
    assert (resolve_user(fs, "alice:staff").gid, resolve_user(fs, "0:7").gid) == (50, 7)
    with pytest.raises(ContainerError, match="unable to find user bob"):
        resolve_user(fs, "bob")
    with pytest.raises(ContainerError, match="unable to find group nope"):
        resolve_user(fs, "alice:nope")
    # A passwd that is a symlink to a file outside the rootfs is not read.
    outside = tmp_path / "passwd"
    outside.write_text("bob:x:7:7::/:/bin/sh\n")
    (rootfs / "etc" / "passwd").unlink()
    os.symlink(str(outside), rootfs / "etc" / "passwd")
    with pytest.raises(ContainerError, match="unable to find user bob"):
        resolve_user(fs, "bob")
