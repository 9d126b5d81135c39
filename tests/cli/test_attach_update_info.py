"""attach, update, version and info, on real containers (root, runc)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line

pytestmark = pytest.mark.root

SRC = str(Path(__file__).resolve().parents[2] / "src")


def command(store_root: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "lamina", *argv]


def environment(store_root: Path) -> dict[str, str]:
    return dict(os.environ, LAMINA_ROOT=str(store_root), PYTHONPATH=SRC)


def test_attach_streams_output_and_exit_code(lamina: Run, image: Image) -> None:
    image()
    # Ticks until the test makes /go: the first tick the attach command prints tells that it
    # is attached (what came before went to the log only, as with docker).
    script = ("while [ ! -f /go ]; do echo tick; sleep 0.05; done; echo out; echo err >&2; "
              "echo more; exit 7")
    name = lamina("run", "-d", "busybox", "sh", "-c", script).out.strip()
    store_root = Path(os.environ["LAMINA_ROOT"])
    proc = subprocess.Popen(command(store_root, "attach", "--no-stdin", name),
                            env=environment(store_root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"tick\n"
    assert lamina("exec", name, "touch", "/go").code == 0
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 7, err
    assert out.replace(b"tick\n", b"") == b"out\nmore\n" and err == b"err\n"
    assert lamina("logs", name).out.endswith("out\nmore\n")  # the log has it all the same
    result = lamina("attach", name)
    assert result.code == 1
    assert one_line(result) == "Error: You cannot attach to a stopped container, start it first"
    assert lamina("attach", "nosuch").code == 1


def test_attach_stdin_of_an_interactive_container(lamina: Run, image: Image) -> None:
    image()
    name = lamina("run", "-d", "-i", "busybox", "sh", "-c",
                  "read a; echo got $a; read b; echo got $b; exit 3").out.strip()
    result = lamina("attach", name, stdin=b"one\ntwo\n")
    assert (result.code, result.out) == (3, "got one\ngot two\n"), result.err
    # without -i at create there is no stdin to attach: input is not sent
    script = "while [ ! -f /go ]; do echo tick; sleep 0.05; done; cat; echo end"
    name = lamina("run", "-d", "busybox", "sh", "-c", script).out.strip()
    store_root = Path(os.environ["LAMINA_ROOT"])
    proc = subprocess.Popen(command(store_root, "attach", name), env=environment(store_root),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"ignored\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"tick\n"
    assert lamina("exec", name, "touch", "/go").code == 0
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out.replace(b"tick\n", b"")) == (0, b"end\n")


def drive(store_root: Path, argv: list[str]) -> tuple[int, int]:
    """``lamina ARGV`` on a pseudo-terminal of its own: (its pid, the terminal's fd)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs
        os.environ.update(LAMINA_ROOT=str(store_root), PYTHONPATH=SRC)
        os.execv(sys.executable, [sys.executable, "-m", "lamina", *argv])
    return pid, fd


def read_until(fd: int, needle: bytes, timeout: float = 20.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out.replace(b"\r", b""):
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not seen in {out!r}")
        if select.select([fd], [], [], 0.05)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def test_attach_to_a_terminal_and_detach(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    name = lamina("run", "-dit", "--name", "term", "busybox", "sh").out.strip()
    for keys, typed in ((None, b"\x10\x11"), ("ctrl-a,x", b"\x01x")):
        argv = ["attach", "term"] + (["--detach-keys", keys] if keys else [])
        pid, fd = drive(store_root, argv)
        # (typed before it is attached, the line waits in the terminal; the prompt came
        # before, and shows only in the log)
        os.write(fd, b"echo in-$((40 + 2))\n")
        read_until(fd, b"in-42\n")
        os.write(fd, typed)  # the detach keys: attach ends, the container runs on
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lamina("ps", "--format", "{{.Names}}").out == "term\n"
    # a terminal's input must come from a terminal, as docker says
    result = lamina("attach", "term", stdin=b"")
    assert (result.code, result.err) == (1, "the input device is not a TTY\n")
    pid, fd = drive(store_root, ["attach", "term"])
    os.write(fd, b"exit 4\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 4
    assert name


def test_attach_proxies_signals(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    script = 'trap "echo caught; exit 9" TERM; while :; do echo tick; sleep 0.1; done'
    for flags, proxied in (([], True), (["--no-sig-proxy"], False)):
        name = lamina("run", "-d", "busybox", "sh", "-c", script).out.strip()
        proc = subprocess.Popen(command(store_root, "attach", *flags, name),
                                env=environment(store_root), stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"tick\n"  # attached, its signal handlers set
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        if proxied:
            assert proc.returncode == 9
            assert out.replace(b"tick\n", b"") == b"caught\n"
        else:
            assert proc.returncode != 0
            assert lamina("ps", "-q", "--no-trunc").out.split() == [name]
            lamina("rm", "-f", name)


def test_update_limits_of_a_running_container(lamina: Run, image: Image) -> None:
    image()
    name = lamina("run", "-d", "--name", "upd", "busybox", "sleep", "60").out.strip()
    result = lamina("update", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50", "upd")
    assert (result.code, result.out) == (0, "upd\n"), result.err
    script = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null ||"
              " cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null ||"
              " cat /sys/fs/cgroup/pids.max")
    assert lamina("exec", "upd", "sh", "-c", script).out.split() == [str(64 << 20), "50"]
    host = json.loads(lamina("inspect", "upd").out)[0]["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 << 20, 500_000_000, 50)
    # kept for the next start
    assert lamina("restart", "-t", "0", "upd").code == 0
    assert lamina("exec", "upd", "sh", "-c", script).out.split() == [str(64 << 20), "50"]
    # bad input: one line, nothing changed
    for argv, message in ((["upd"], "you must provide one or more flags"),
                          (["-m", "1k", "upd"], "Minimum memory limit allowed is 6MB"),
                          (["-m", "32m", "--memory-swap", "16m", "upd"],
                           "Minimum memoryswap limit should be larger than memory limit")):
        result = lamina("update", *argv)
        assert result.code == 1 and message in one_line(result), result.err
    result = lamina("update", "-m", "32m", "nosuch", "upd")
    assert result.code == 1 and result.out == "upd\n"
    assert "No such container: nosuch" in one_line(result)
    assert lamina("update", "--cpus", "bogus", "upd").code == 125
    assert json.loads(lamina("inspect", "upd").out)[0]["HostConfig"]["Memory"] == 32 << 20
    # a stopped container: on record only
    lamina("stop", "-t", "0", "upd")
    assert lamina("update", "--restart", "on-failure:3", "upd").code == 0
    policy = json.loads(lamina("inspect", "upd").out)[0]["HostConfig"]["RestartPolicy"]
    assert policy == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert name


def test_version_and_info(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    lamina("create", "busybox", "true")
    result = lamina("version")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Client:" and lines[1].startswith(" Version:           ")
    assert " runc:" in lines  # the runtime lamina drives, with its own version
    assert lamina("version", "--format", "{{.Client.Version}}").out.strip() == \
        lines[1].split()[-1]
    data = json.loads(lamina("version", "--format", "json").out)
    assert {c["Name"] for c in data["Server"]["Components"]} >= {"Engine", "runc"}
    info = json.loads(lamina("info", "--format", "{{json .}}").out)
    assert info["Driver"] == "overlay"
    assert info["DockerRootDir"] == str(store_root)
    assert (info["Containers"], info["ContainersStopped"], info["Images"]) == (1, 1, 1)
    assert "runc" in info["Runtimes"]
    assert info["CgroupVersion"] == ("2" if Path("/sys/fs/cgroup/cgroup.controllers").exists()
                                     else "1")
    assert any(o.startswith("name=seccomp,profile=") for o in info["SecurityOptions"])
    text = lamina("info").out
    assert " Storage Driver: overlay\n" in text and "  seccomp\n" in text
    assert f" Lamina Root Dir: {store_root}\n" in text
    assert lamina("system", "info", "-f", "{{.Driver}}").out == "overlay\n"
    assert lamina("info", "-f", "{{.Nope").code != 0


def test_exec_on_a_terminal_detaches_with_the_keys(lamina: Run, image: Image,
                                                   store_root: Path) -> None:
    image()
    lamina("run", "-d", "--name", "host", "busybox", "sleep", "60")
    pid, fd = drive(store_root, ["exec", "-it", "--detach-keys", "ctrl-x,y", "host", "sh"])
    os.write(fd, b"echo in-$((40 + 2))\n")
    read_until(fd, b"in-42\n")
    os.write(fd, b"\x18y")  # Ctrl-X y: exec returns, its shell runs on
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    processes = lamina("exec", "host", "ps", "-o", "comm").out.split()
    assert processes.count("sh") == 1, processes
    # -t alone: a terminal, no input; the exit code comes back
    result = lamina("exec", "-t", "host", "sh", "-c", "tty; exit 5")
    assert result.code == 5 and result.out.replace("\r", "").startswith("/dev/pts/"), result
    # a half-typed sequence is passed on when what follows does not complete it
    pid, fd = drive(store_root, ["exec", "-it", "--detach-keys", "ctrl-x,y", "host", "sh", "-c",
                                 'read x; echo "length ${#x}"; exit 3'])
    os.write(fd, b"a\x18b\n")
    out = read_until(fd, b"length 3\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 3, out
