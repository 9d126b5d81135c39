"""The quick reading of ``run`` command lines (``lamina.cli.container_flags.parse``) against
click's reading of the same lines by the ``run`` command: whatever the quick parser accepts,
click must read the same way; what it refuses, click takes (and explains)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.cli.commands import pflag_args
from lamina.cli.container_flags import CREATE_FLAGS, RUN_FLAGS, parse
from lamina.cli.run import run


def click_reads(args: list[str]) -> tuple[dict[str, Any], str, list[str]] | None:
    """What click makes of ``lamina run ARGS``: the parameters, the image, the command."""
    try:
        ctx = run.make_context("run", pflag_args(run, list(args)))  # as the group hands it
    except (click.exceptions.Exit, click.UsageError):
        return None
    params = dict(ctx.params)
    image = params.pop("image")
    command = list(params.pop("command"))
    return params, image, command


@pytest.mark.parametrize("args", [
    ["busybox"],
    ["--rm", "busybox", "true"],
    ["-d", "--name", "web", "busybox", "sleep", "10"],
    ["-it", "busybox", "sh"],
    ["-dit", "--rm", "busybox"],
    ["-e", "A=1", "--env", "B=2", "-eC=3", "--env=D=4", "busybox", "env"],
    ["-v", "/src:/dst:ro", "--volume=/a:/b", "-w", "/tmp", "-u", "1000:1000", "busybox"],
    ["--network", "none", "--net=host", "-h", "box", "--hostname", "box2", "busybox"],
    ["--pids-limit", "20", "--pids-limit=-1", "-m", "64m", "--cpus", "0.5", "busybox"],
    ["--cap-add", "NET_ADMIN", "--cap-drop=ALL", "-l", "a=b", "--label", "c=d", "busybox"],
    ["--read-only", "--entrypoint", "/bin/sh", "--runtime", "runc", "busybox", "-c", "ls"],
    ["--env-file", "/tmp/env", "busybox", "--rm", "-d"],  # after the image: the command's
    ["--rm", "--", "busybox", "-x"],
    ["-it", "--tty=F", "busybox"],  # (pflag: the last word wins, even over a cluster's)
    ["--", "--rm"],
    ["--name", "--rm", "busybox"],  # a value that looks like a flag is still the value
    ["-ie", "A=1", "busybox"],
    ["-", "x"],
    # switches with a value, as pflag reads them; the last word wins
    ["--rm=false", "-d=1", "--init=true", "--read-only=0", "busybox"],
    ["--rm", "--rm=false", "-t", "--tty=False", "busybox"],
    ["-dit", "-d=0", "busybox"],  # a switch of a cluster taken back alone
    ["--sig-proxy=false", "busybox"],
    ["--sig-proxy=false", "--sig-proxy", "busybox"],
    # a switch whose absence is neither true nor false
    ["--disable-content-trust", "busybox"],
    ["--disable-content-trust=false", "busybox"],
    ["--disable-content-trust=0", "--disable-content-trust", "busybox"],
    # the flags beyond the common ones
    ["--restart", "on-failure:3", "--init", "--health-cmd", "true", "--health-interval=1s",
     "--health-retries", "2", "--stop-signal", "USR1", "--stop-timeout", "3", "busybox"],
    ["--ulimit", "nofile=10:20", "--shm-size=1m", "--tmpfs", "/t", "--mount",
     "type=tmpfs,target=/m", "--device", "/dev/null", "--ipc", "host", "--pid=host", "busybox"],
    ["-c", "512", "--cpuset-cpus", "0", "--cpu-quota", "5000", "--cpu-period=100000",
     "--memory-swap", "1g", "--oom-kill-disable", "--blkio-weight", "10", "busybox"],
    ["-q", "--pull", "never", "--cidfile", "/tmp/c", "--label-file", "/l", "--annotation",
     "a=b", "--domainname", "d", "-a", "stdout", "-aSTDERR", "--log-driver", "none", "busybox"],
    ["--log-opt", "max-size=1k", "--volumes-from", "x", "--detach-keys", "ctrl-a",
     "--no-healthcheck", "--uts", "host", "--cgroupns", "private", "--userns=host", "busybox"],
])
def test_reads_as_click_reads(args: list[str]) -> None:
    quick = parse(args, RUN_FLAGS)
    assert quick is not None
    assert quick == click_reads(args)


@pytest.mark.parametrize("args", [
    [],
    ["--rm"],
    ["--help"],
    ["--bogus", "busybox"],
    ["-Z", "busybox"],
    ["-e"],
    ["--name"],
    ["--rm=yes", "busybox"],
    ["-d=yes", "busybox"],
    ["--sig-proxy=maybe", "busybox"],
    ["--disable-content-trust=maybe", "busybox"],
    ["--pids-limit", "many", "busybox"],
    ["--"],
])
def test_leaves_the_rest_to_click(args: list[str]) -> None:
    assert parse(args, RUN_FLAGS) is None
    assert click_reads(args) is None  # click refuses it too, with its message


def test_create_table_has_no_detach() -> None:
    assert parse(["-d", "busybox"], CREATE_FLAGS) is None
    assert parse(["-d", "busybox"], RUN_FLAGS) is not None


TOKENS = st.sampled_from([
    "busybox", "sh", "-c", "true", "x=1", "--", "-", "10", "-1", "abc",
    "--rm", "-d", "-i", "-t", "-it", "-dit", "-e", "-eA=1", "--env", "--env=A=1", "--name",
    "--name=n", "-v", "--volume=/a:/b", "--network", "--net=none", "-h", "--hostname",
    "--pids-limit", "--pids-limit=5", "--read-only", "--read-only=1", "--cap-add", "-l",
    "--label=a=b", "--entrypoint", "-w", "-u", "--runtime", "--bogus", "-Z", "--help", "-m",
    "--cpus", "--env-file", "--5", "+5", " 7", "²", "--pids-limit=--5", "-e=",
    "--rm=false", "--rm=true", "-d=0", "-t=1", "--sig-proxy=false", "--sig-proxy", "--init=x",
    "-a", "-q", "-aq", "-qa", "--ulimit", "-c", "--stop-timeout=x", "--tty=F",
    "--disable-content-trust", "--disable-content-trust=false", "--disable-content-trust=1",
])


@settings(max_examples=600, deadline=None)
@given(st.lists(TOKENS, max_size=8))
def test_never_reads_differently_from_click(args: list[str]) -> None:
    quick = parse(args, RUN_FLAGS)
    if quick is not None:
        assert quick == click_reads(args)


@pytest.mark.root
def test_run_starts_without_click(tmp_path: Any) -> None:
    """The point of the quick path: a common `lamina run` loads neither click nor dataclasses
    (with inspect, a third of its start-up); one that needs click (here, --help) gets it."""
    from helpers.busybox import busybox_tar, needs_containers

    needs_containers()
    root = tmp_path / "store"
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(busybox_tar())
    env = dict(os.environ, LAMINA_ROOT=str(root))
    subprocess.run([sys.executable, "-m", "lamina", "import", str(rootfs), "busybox"],
                   env=env, check=True, capture_output=True)
    code = (
        "import sys\n"
        "from lamina.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    heavy = sorted({'click', 'dataclasses', 'inspect'} & set(sys.modules))\n"
        "    print('CODE', exc.code, 'HEAVY', ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, "run", "--rm", "busybox", "echo", "hi"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["hi", "CODE 0 HEAVY "], out.stderr
    out = subprocess.run([sys.executable, "-c", code, "run", "--help"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1].startswith("CODE 0 HEAVY click")
    assert "Create and run a new container from an image" in out.stdout
