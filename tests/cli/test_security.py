"""What docker users assume of a container's confinement and files, on real containers (root,
runc): the default seccomp profile and --security-opt, --privileged, supplementary groups and
--group-add, /.dockerenv, /etc/mtab, /etc/hosts, /dev/console, --read-only's /etc files and
recursively read-only binds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line
from lamina.runtime import seccomp
from lamina.runtime.seccomp_profile import profile as own_profile

pytestmark = pytest.mark.root

# The calls the tests make, by number (no C library wrapper for them in Python 3.11).
SYSCALLS = {
    "x86_64": {"keyctl": 250, "unshare": 272, "userfaultfd": 323},
    "aarch64": {"keyctl": 219, "unshare": 97, "userfaultfd": 282},
}
# Runs in the container with the host's Python (its /usr bound read-only): each call's
# outcome, "ok" or the error's name.
PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
numbers = {numbers!r}
def call(name, *args):
    if libc.syscall(numbers[name], *args) >= 0:
        return "ok"
    return errno.errorcode[ctypes.get_errno()]
# keyctl(KEYCTL_GET_KEYRING_ID, the session keyring, create) works for any process
print("keyctl", call("keyctl", 0, -3, 1))
print("unshare", call("unshare", 0x10000000))  # CLONE_NEWUSER
print("userfaultfd", call("userfaultfd", 0o2000000 | 1))  # O_CLOEXEC | UFFD_USER_MODE_ONLY
"""


def status(lamina: Run, *flags: str) -> dict[str, str]:
    result = lamina("run", "--rm", *flags, "busybox", "cat", "/proc/self/status")
    assert result.code == 0, result.err
    return {k: v.strip() for k, _, v in (line.partition(":") for line in result.out.splitlines())}


def test_default_seccomp_and_security_opts(lamina: Run, image: Image) -> None:
    image()
    default = status(lamina)
    assert (default["Seccomp"], default["Seccomp_filters"], default["NoNewPrivs"]) == \
        ("2", "1", "0")
    assert status(lamina, "--security-opt", "seccomp=unconfined")["Seccomp"] == "0"
    assert status(lamina, "--security-opt", "seccomp:unconfined")["Seccomp"] == "0"
    assert status(lamina, "--security-opt", "seccomp=builtin")["Seccomp"] == "2"
    assert status(lamina, "--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
    assert status(lamina, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == "0"
    # AppArmor and SELinux labels are taken, and used where the host has them (as docker)
    assert status(lamina, "--security-opt", "apparmor=unconfined",
                  "--security-opt", "label=disable")["Seccomp"] == "2"
    privileged = status(lamina, "--privileged")
    assert privileged["Seccomp"] == "0"
    ours = {k: v.strip() for k, _, v in (line.partition(":") for line in
                                         Path("/proc/self/status").read_text().splitlines())}
    assert privileged["CapEff"] == ours["CapBnd"]  # every capability lamina can give
    assert default["CapEff"] == "00000000a80425fb"  # docker's default set
    result = lamina("run", "--rm", "--privileged", "busybox", "sh", "-c",
                    "ls /dev; grep -c ' /sys ro' /proc/self/mountinfo; cat /proc/keys >/dev/null"
                    " && echo unmasked")
    lines = result.out.split()
    assert "unmasked" in lines and lines[-2] == "0", result.out  # /sys writable, /proc whole
    assert len([d for d in lines if d not in ("unmasked", "0")]) > 12  # the host's devices
    inspect = json.loads(lamina("container", "inspect", lamina(
        "create", "--privileged", "--security-opt", "no-new-privileges", "--group-add", "staff",
        "busybox", "true").out.strip()).out)[0]["HostConfig"]
    assert (inspect["Privileged"], inspect["SecurityOpt"], inspect["GroupAdd"]) == \
        (True, ["no-new-privileges"], ["staff"])


def test_bad_security_opts_one_line_nothing_made(lamina: Run, image: Image,
                                                 tmp_path: Path) -> None:
    image()
    not_json = tmp_path / "not.json"
    not_json.write_text("notjson")
    bad_action = tmp_path / "bad.json"
    bad_action.write_text('{"defaultAction": "SCMP_ACT_BOGUS"}')
    cases = {
        "foo": 'Invalid --security-opt: "foo"',
        "seccomp=": 'Invalid --security-opt: "seccomp="',
        f"seccomp={tmp_path}/missing.json": "opening seccomp profile",
        f"seccomp={not_json}": "decoding seccomp profile",
        f"seccomp={bad_action}": "'SCMP_ACT_BOGUS' is not a valid action",
        "no-new-privileges=bogus": 'invalid --security-opt 2: "no-new-privileges=bogus"',
        "nosuch=1": 'invalid --security-opt 2: "nosuch=1"',
    }
    for opt, message in cases.items():
        result = lamina("run", "--rm", "--security-opt", opt, "busybox", "true")
        assert result.code == 125, opt
        assert message in one_line(result), (opt, result.err)
    assert lamina("ps", "-aq").out == ""


@pytest.fixture
def probe(image: Image, tmp_path: Path) -> list[str]:
    """Flags and a command that print the probe's results in a container of image "py"."""
    numbers = SYSCALLS.get(os.uname().machine)
    python = Path("/usr/bin/python3")
    if numbers is None or not python.exists():
        pytest.skip("the probe knows x86_64 and aarch64, and needs /usr/bin/python3")
    image("py", symlinks={"lib": "usr/lib", "lib64": "usr/lib64"})
    script = tmp_path / "probe.py"
    script.write_text(PROBE.format(numbers=numbers))
    return ["-v", "/usr:/usr:ro", "-v", f"{script}:/probe.py:ro"]


def outcomes(lamina: Run, probe: list[str], *flags: str) -> dict[str, str]:
    result = lamina("run", "--rm", *probe, *flags, "py", "sh", "-c",
                    "exec /usr/bin/python3 /probe.py")
    assert result.code == 0, result.err
    return dict(line.split() for line in result.out.splitlines())


def test_the_default_profile_denies_what_docker_denies(lamina: Run, probe: list[str]) -> None:
    """userfaultfd: refused by docker's, podman's and lamina's profiles alike; otherwise
    allowed to anyone in its user-mode-only form (Linux 5.11+)."""
    assert outcomes(lamina, probe)["userfaultfd"] == "EPERM"
    assert outcomes(lamina, probe, "--security-opt", "seccomp=unconfined")["userfaultfd"] == "ok"
    assert outcomes(lamina, probe, "--privileged")["userfaultfd"] == "ok"


def test_lamina_own_profile(lamina: Run, probe: list[str], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine without containers-common's profile, lamina's own applies: docker's rules
    (no keyrings, no user namespaces without CAP_SYS_ADMIN)."""
    unconfined = outcomes(lamina, probe, "--security-opt", "seccomp=unconfined")
    assert (unconfined["keyctl"], unconfined["unshare"]) == ("ok", "ok")
    with monkeypatch.context() as patch:
        patch.setattr(seccomp, "SYSTEM_PROFILE", tmp_path / "none.json")
        assert seccomp.default_source() == "builtin"
        assert outcomes(lamina, probe) == {"keyctl": "EPERM", "unshare": "EPERM",
                                           "userfaultfd": "EPERM"}
        with_admin = outcomes(lamina, probe, "--cap-add", "SYS_ADMIN")
        assert (with_admin["keyctl"], with_admin["unshare"]) == ("EPERM", "ok")
    # the same profile given as a file
    path = tmp_path / "own.json"
    path.write_text(json.dumps(own_profile()))
    assert outcomes(lamina, probe, "--security-opt", f"seccomp={path}")["unshare"] == "EPERM"


def test_supplementary_groups_as_docker(lamina: Run, image: Image) -> None:
    image()

    def id_(*flags: str) -> str:
        result = lamina("run", "--rm", *flags, "busybox", "id")
        assert result.code == 0, result.err
        return result.out.strip()

    assert id_() == "uid=0(root) gid=0(root) groups=0(root)"
    assert id_("-u", "1000:1000") == "uid=1000(alice) gid=1000(alice) groups=1000(alice)"
    assert id_("-u", "alice") == "uid=1000(alice) gid=1000(alice) groups=50(staff),1000(alice)"
    assert id_("-u", "1234") == "uid=1234 gid=0(root) groups=0(root)"
    assert id_("--group-add", "staff", "--group-add", "77") == \
        "uid=0(root) gid=0(root) groups=0(root),50(staff),77"
    result = lamina("run", "--rm", "--group-add", "nosuch", "busybox", "id")
    assert result.code == 125
    assert "Unable to find group nosuch" in one_line(result)
    # exec: the container's user, or -u's with the container's --group-add
    name = lamina("run", "-d", "-u", "alice", "--group-add", "77", "busybox", "sleep", "30"
                  ).out.strip()
    assert lamina("exec", name, "id").out.strip() == \
        "uid=1000(alice) gid=1000(alice) groups=50(staff),77,1000(alice)"
    assert lamina("exec", "-u", "0", name, "id").out.strip() == \
        "uid=0(root) gid=0(root) groups=0(root),77"


def test_the_files_a_program_expects(lamina: Run, image: Image) -> None:
    image()
    result = lamina("run", "--name", "files", "--network", "none", "busybox", "sh", "-c",
                    "test -f /.dockerenv && ls -l /etc/mtab && cat /etc/hosts")
    lines = result.out.splitlines()
    assert lines and lines[0].endswith(" /etc/mtab -> /proc/mounts"), result.err
    # docker's file for a container without a network: no line for its own name
    assert lines[1:] == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                         "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix",
                         "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    assert lamina("diff", "files").out == ""  # the init layer's files are not the container's
    host = lamina("run", "--rm", "--network", "host", "busybox", "cat", "/etc/hosts").out
    assert host == Path("/etc/hosts").read_text()  # the host's own, as docker copies it
    # -t: the terminal is /dev/console too
    console = lamina("run", "--rm", "-t", "busybox", "sh", "-c",
                     "test -c /dev/console && tty && ls -l /dev/console")
    assert console.code == 0, console.err
    assert console.out.replace("\r", "").splitlines()[0] == "/dev/pts/0"
    assert "136," in console.out
    assert lamina("run", "--rm", "busybox", "test", "-e", "/dev/console").code == 1


def test_read_only_covers_the_etc_files(lamina: Run, image: Image) -> None:
    image()
    result = lamina("run", "--rm", "--read-only", "busybox", "sh", "-c",
                    "for f in hosts hostname resolv.conf; do echo x >> /etc/$f; done")
    assert result.err.count("Read-only file system") == 3, result.err
    result = lamina("run", "--rm", "busybox", "sh", "-c", "echo 10.0.0.1 x >> /etc/hosts")
    assert result.code == 0, result.err


# runc, but for a `features` that knows no recursive mount options
OLDER_RUNC = """#!/bin/sh
for arg; do
    if [ "$arg" = features ]; then
        echo '{{"mountOptions": ["ro", "rw", "bind", "rbind", "rprivate"]}}'
        exit 0
    fi
done
exec {runc} "$@"
"""


def test_readonly_bind_is_read_only_all_the_way_down(lamina: Run, image: Image,
                                                     tmp_path: Path) -> None:
    """-v SRC:DST:ro with a filesystem mounted below SRC: the submount is read-only in the
    container too (docker 25+). A tmpfs of the test's own, with another tmpfs inside."""
    image()
    top = tmp_path / "top"
    top.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "lamina-test-top", str(top)],
                   check=True)
    try:
        (top / "sub").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "lamina-test-sub",
                        str(top / "sub")], check=True)
        try:
            result = lamina("run", "--rm", "-v", f"{top}:/host:ro", "busybox", "sh", "-c",
                            "touch /host/a; touch /host/sub/b; echo done")
            assert result.out == "done\n"
            assert result.err.count("Read-only file system") == 2, result.err
            assert os.listdir(top / "sub") == []
            writable = lamina("run", "--rm", "-v", f"{top}:/host", "busybox", "touch",
                              "/host/sub/c")
            assert writable.code == 0 and os.listdir(top / "sub") == ["c"]
            # A runtime that does not know "rro" (runc before 1.1) still runs the container,
            # with the top of the bind read-only.
            older = tmp_path / "older-runc"
            older.write_text(OLDER_RUNC.format(runc=shutil.which("runc")))
            older.chmod(0o755)
            result = lamina("run", "--rm", "--runtime", str(older), "-v", f"{top}:/host:ro",
                            "busybox", "sh", "-c", "touch /host/a; touch /host/sub/d")
            assert result.err.count("Read-only file system") == 1, result.err
            assert sorted(os.listdir(top / "sub")) == ["c", "d"]
        finally:
            subprocess.run(["umount", str(top / "sub")], check=False)
    finally:
        subprocess.run(["umount", str(top)], check=False)


def test_exec_privileged_env_file_detach(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    name = lamina("run", "-d", "busybox", "sleep", "30").out.strip()

    def cap_eff(*flags: str) -> str:
        out = lamina("exec", *flags, name, "cat", "/proc/self/status").out
        return next(line.split()[1] for line in out.splitlines() if line.startswith("CapEff"))

    assert cap_eff() == "00000000a80425fb"
    ours = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("CapBnd"))
    assert cap_eff("--privileged") == ours
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=1\nBOTH=file\n")
    env = lamina("exec", "--env-file", str(env_file), "-e", "BOTH=flag", name, "env").out
    assert {"FROM_FILE=1", "BOTH=flag"} <= set(env.splitlines())
    result = lamina("exec", "--env-file", str(tmp_path / "missing"), name, "true")
    assert result.code != 0 and "missing" in one_line(result)
    assert lamina("exec", "-d", name, "sh", "-c", "sleep 0.2; touch /detached").out == ""
    import time

    deadline = time.monotonic() + 10
    while lamina("exec", name, "test", "-f", "/detached").code != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result = lamina("exec", "--detach-keys", "ctrl-", name, "true")  # checked before anything
    assert result.code == 1 and "Invalid escape keys (ctrl-) provided" in one_line(result)
    assert lamina("exec", "--detach-keys", "ctrl-a,x", name, "true").code == 0
