"""The run/create flags beyond the common ones, on real containers (runc): each flag's effect
seen from inside the container, or in inspect, and its bad values refused with one line,
exit 125 and nothing left behind."""

from __future__ import annotations

import contextlib
import json
import os
import resource
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line

pytestmark = pytest.mark.root


def inspect(lamina: Run, name: str, template: str) -> str:
    result = lamina("inspect", "-f", template, name)
    assert result.code == 0, result.err
    return result.out.strip()


def test_ulimit_shm_tmpfs_mounts_domainname(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f").write_text("from the host\n")
    script = ("ulimit -n; ulimit -Hn; ulimit -s; df -k /dev/shm /t /m | tail -3; "
              "cat /proc/sys/kernel/domainname; cat /b/f; touch /b/g 2>/dev/null || echo ro; "
              "touch /m/x && echo rw; grep ' /t ' /proc/mounts")
    result = lamina(
        "run", "--rm", "--ulimit", "nofile=100:200", "--ulimit", "stack=8192000",
        "--shm-size", "1m", "--tmpfs", "/t:size=1m,exec", "--mount",
        "type=tmpfs,target=/m,tmpfs-size=2m", "--mount",
        f"type=bind,source={shared},target=/b,readonly", "--domainname", "example.org",
        "busybox", "sh", "-c", script)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:3] == ["100", "200", "8000"]
    sizes = [line.split()[1] for line in lines[3:6]]
    assert sizes == ["1024", "1024", "2048"]
    assert lines[6:10] == ["example.org", "from the host", "ro", "rw"]
    t_options = lines[10].split()[3].split(",")
    assert "nosuid" in t_options and "noexec" not in t_options  # exec asked for
    assert not (shared / "g").exists()


def test_ulimit_above_the_hard_limit_is_refused_plainly(lamina: Run, image: Image,
                                                       store_root: Path) -> None:
    image()
    from lamina.runtime.spec import CAP_SYS_RESOURCE, has_capability

    if has_capability(CAP_SYS_RESOURCE):
        pytest.skip("this process may raise hard limits")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on open files here")
    result = lamina("run", "--rm", "--ulimit", f"nofile=10:{hard + 1}", "busybox", "true")
    assert result.code == 125
    line = one_line(result)
    assert f"hard limit {hard + 1} is above this machine's hard limit {hard}" in line
    assert "CAP_SYS_RESOURCE" in line
    assert lamina("ps", "-aq").out == ""
    for bad in ("nofile", "nosuch=1", "nofile=a", "nofile=20:10"):
        result = lamina("run", "--rm", "--ulimit", bad, "busybox", "true")
        assert result.code == 125 and "--ulimit" in one_line(result), bad


def cgroup_file(lamina: Run, flags: list[str], v1: str, v2: str) -> str:
    script = f"cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}"
    result = lamina("run", "--rm", *flags, "busybox", "sh", "-c", script)
    assert result.code == 0, result.err
    return result.out.strip()


def test_cpu_and_memory_limits_reach_the_cgroup(lamina: Run, image: Image) -> None:
    image()
    if not Path("/sys/fs/cgroup/cpu").is_dir():
        pytest.skip("reads cgroup v1 files")
    assert cgroup_file(lamina, ["--cpu-shares", "512"], "cpu/cpu.shares", "cpu.weight") == "512"
    assert cgroup_file(lamina, ["--cpuset-cpus", "0"], "cpuset/cpuset.cpus", "cpuset.cpus") == "0"
    assert cgroup_file(lamina, ["--cpu-quota", "50000", "--cpu-period", "200000"],
                       "cpu/cpu.cfs_quota_us", "cpu.max") == "50000"
    assert cgroup_file(lamina, ["-m", "64m", "--memory-reservation", "32m"],
                       "memory/memory.soft_limit_in_bytes", "memory.low") == str(32 << 20)
    oom = cgroup_file(lamina, ["-m", "64m", "--oom-kill-disable"], "memory/memory.oom_control",
                      "memory.oom.group")
    assert "oom_kill_disable 1" in oom
    result = lamina("run", "--rm", "--blkio-weight", "300", "busybox", "sh", "-c",
                    "cat /sys/fs/cgroup/blkio/blkio.weight 2>/dev/null || echo none")
    assert result.code == 0, result.err
    if Path("/sys/fs/cgroup/blkio/blkio.weight").exists():
        assert result.out == "300\n"
    else:  # docker drops it, and says so
        assert result.err == ("WARNING: Your kernel does not support Block I/O weight or the "
                              "cgroup is not mounted. Weight discarded.\n")
    result = lamina("run", "--rm", "--oom-kill-disable", "busybox", "true")
    assert result.err == ("WARNING: OOM killer is disabled for the container, but no memory "
                          "limit is set, this can result in the system running out of "
                          "resources.\n")
    if Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists():
        assert cgroup_file(lamina, ["-m", "64m", "--memory-swap", "128m"],
                           "memory/memory.memsw.limit_in_bytes", "memory.swap.max") == \
            str(128 << 20)


def test_limit_values_checked_as_docker(lamina: Run, image: Image) -> None:
    image()
    cases = {
        ("--memory-swap", "128m"): "You should always set the Memory limit when using "
                                   "Memoryswap limit, see usage",
        ("-m", "64m", "--memory-swap", "32m"): "Minimum memoryswap limit should be larger "
                                               "than memory limit",
        ("--cpus", "1", "--cpu-period", "100000"): "Conflicting options: Nano CPUs and CPU "
                                                    "Period cannot both be set",
        ("--cpuset-cpus", "4096"): "Requested CPUs are not available",
        ("--gpus", "all"): 'could not select device driver "" with capabilities: [[gpu]]',
        ("--ipc", "bogus"): "Invalid IPC mode: bogus",
        ("--pid", "nope"): "--pid: invalid PID mode",
        ("--restart", "sometimes"): "invalid restart policy 'sometimes'",
        ("--restart", "on-failure:x"): "invalid restart policy format: maximum retry count "
                                       "must be an integer",
        ("--restart", "always:3"): "maximum retry count cannot be used with restart policy "
                                   "'always'",
        ("--restart", "on-failure:-1"): "maximum retry count cannot be negative",
        ("--restart", "always", "--rm"): "conflicting options: cannot specify both --restart "
                                         "and --rm",
        ("--pull", "often"): "invalid pull option: 'often'",
        ("--log-driver", "syslog"): 'logging driver "syslog" is not available',
        ("--log-opt", "max-size=x"): "failed to initialize logging driver: invalid size: 'x'",
        ("--log-opt", "bogus=1"): "unknown log opt 'bogus' for json-file log driver",
        ("--mount", "type=bind,source=/no/such/dir,target=/x"): "bind source path does not "
                                                                "exist: /no/such/dir",
        ("--mount", "type=volume,source=a/b,target=/x"): "includes invalid characters for a "
                                                          "local volume name",
        ("--stop-signal", "SIGNOPE"): "Invalid signal: SIGNOPE",
        ("--health-interval", "soon", "--health-cmd", "true"): 'invalid argument "soon" for '
                                                                '"--health-interval" flag',
        ("--no-healthcheck", "--health-cmd", "true"): "--no-healthcheck conflicts with "
                                                      "--health-* options",
        ("--detach-keys", "ctrl-ab"): "Invalid detach keys (ctrl-ab) provided",
        ("--annotation", "novalue"): "bad format for annotation",
        ("--label-file", "/no/such/labels"): "open /no/such/labels",
        ("-a", "stdnothing"): "valid streams are STDIN, STDOUT and STDERR",
    }
    for flags, message in cases.items():
        result = lamina("run", "--rm", *flags, "busybox", "true")
        assert result.code == 125, (flags, result.err)
        assert message in one_line(result), flags
    # a --device that is not there: refused when the container starts, with the status
    # docker's run gives what is not found (127)
    result = lamina("run", "--rm", "--device", "/no/such/device", "busybox", "true")
    assert result.code == 127
    assert one_line(result) == ('Error: error gathering device information while adding '
                                'custom device "/no/such/device": no such file or directory')
    # (--gpus and --device are refused when the container starts, as docker's: --rm removed
    # it then)
    assert lamina("ps", "-aq").out == ""
    # max-file without max-size is taken, and does nothing (docker's documentation)
    assert lamina("run", "--rm", "--log-opt", "max-file=3", "busybox", "true").code == 0
    # -a with -d: docker's bare line, and status 1
    result = lamina("run", "-d", "-a", "stdout", "busybox", "true")
    assert (result.code, result.out, result.err) == (
        1, "", "conflicting options: cannot specify both --attach and --detach\n")
    # a weight out of range is refused where the kernel takes weights (else dropped)
    from lamina.engine.hostconfig import blkio_weight_supported

    result = lamina("run", "--rm", "--blkio-weight", "5", "busybox", "true")
    if blkio_weight_supported():
        assert result.code == 125
        assert "Range of blkio weight is from 10 to 1000" in one_line(result)
    else:
        assert result.code == 0 and "Weight discarded" in result.err
    assert lamina("ps", "-aq").out == ""


def test_namespaces_host_private_none_and_joined(lamina: Run, image: Image) -> None:
    image()
    own = {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in ("ipc", "uts", "cgroup", "pid")}

    def ns(*flags: str) -> dict[str, str]:
        result = lamina("run", "--rm", *flags, "busybox", "sh", "-c",
                        "for k in ipc uts cgroup pid; do echo $k $(readlink /proc/self/ns/$k); "
                        "done")
        assert result.code == 0, result.err
        return dict(line.split(" ", 1) for line in result.out.splitlines())

    default = ns()
    assert default["ipc"] != own["ipc"] and default["pid"] != own["pid"]
    assert default["uts"] != own["uts"]
    hosts = ns("--ipc", "host", "--uts", "host", "--pid", "host")
    assert (hosts["ipc"], hosts["uts"], hosts["pid"]) == (own["ipc"], own["uts"], own["pid"])
    assert ns("--cgroupns", "private")["cgroup"] != own["cgroup"]
    assert ns("--cgroupns", "host")["cgroup"] == own["cgroup"]
    result = lamina("run", "--rm", "--ipc", "none", "busybox", "sh", "-c",
                    "grep -c ' /dev/shm ' /proc/mounts || true")
    assert result.out.strip() == "0"
    result = lamina("run", "--rm", "--uts", "host", "busybox", "hostname")
    assert result.out.strip() == os.uname().nodename
    # container:NAME joins another container's namespaces
    assert lamina("run", "-d", "--name", "first", "busybox", "sleep", "30").code == 0
    first = inspect(lamina, "first", "{{.State.Pid}}")
    theirs = os.readlink(f"/proc/{first}/ns/ipc"), os.readlink(f"/proc/{first}/ns/pid")
    joined = ns("--ipc", "container:first", "--pid", "container:first")
    assert (joined["ipc"], joined["pid"]) == theirs
    assert lamina("rm", "-f", "first").code == 0


def test_device(lamina: Run, image: Image) -> None:
    image()
    result = lamina("run", "--rm", "--device", "/dev/null:/dev/mynull:rw", "busybox", "sh", "-c",
                    "echo x > /dev/mynull && ls -l /dev/mynull")
    assert result.code == 0, result.err
    assert result.out.startswith("crw")
    assert "1,   3" in result.out or "1, 3" in result.out
    result = lamina("run", "--rm", "busybox", "ls", "/dev/mynull")
    assert result.code != 0


def test_init_reaps_orphans_and_forwards_signals(lamina: Run, image: Image) -> None:
    from cli.conftest import wait_for

    image()
    result = lamina("run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline")
    assert result.out.split("\0")[:3] == ["/sbin/docker-init", "--", "cat"]
    # The orphan "sleep 0.2" ends while its adoptive parent is pid 1: without an init, a
    # `sleep` that never waits (a zombie stays); with --init, tini (it is reaped).
    script = 'sh -c "sleep 0.2 &"; exec sleep 30'

    def orphan_states(name: str) -> list[str]:
        out = lamina("exec", name, "ps", "-o", "stat,args").out
        rows = [line.split(None, 1) for line in out.splitlines()]
        return [row[0] for row in rows if row[1:] in (["sleep 0.2"], ["[sleep]"])]

    assert lamina("run", "-d", "--name", "plain", "busybox", "sh", "-c", script).code == 0
    assert lamina("run", "-d", "--init", "--name", "inited", "busybox", "sh", "-c",
                  script).code == 0
    wait_for(lambda: orphan_states("plain") == ["Z"])
    wait_for(lambda: orphan_states("inited") == [])
    # SIGTERM: sleep as pid 1 ignores it (killed after the timeout, 137); under tini it
    # reaches sleep, which dies of it (143).
    assert lamina("stop", "-t", "1", "plain").code == 0
    assert lamina("stop", "-t", "20", "inited").code == 0
    assert inspect(lamina, "plain", "{{.State.ExitCode}}") == "137"
    assert inspect(lamina, "inited", "{{.State.ExitCode}}") == "143"
    assert inspect(lamina, "inited", "{{.HostConfig.Init}}") == "true"


def test_stop_signal_and_stop_timeout(lamina: Run, image: Image) -> None:
    from cli.conftest import wait_for

    image()
    script = 'trap "echo got usr1; exit 5" USR1; echo ready; while :; do sleep 0.1; done'
    assert lamina("run", "-d", "--name", "sig", "--stop-signal", "USR1", "busybox", "sh", "-c",
                  script).code == 0
    wait_for(lambda: "ready" in lamina("logs", "sig").out)
    assert lamina("stop", "sig").code == 0
    assert inspect(lamina, "sig", "{{.State.ExitCode}} {{.Config.StopSignal}}") == "5 USR1"
    assert "got usr1" in lamina("logs", "sig").out
    # A process that ignores SIGTERM is killed once --stop-timeout has passed.
    assert lamina("run", "-d", "--name", "tmo", "--stop-timeout", "1", "busybox", "sh", "-c",
                  'trap "" TERM; echo ready; while :; do sleep 0.1; done').code == 0
    wait_for(lambda: "ready" in lamina("logs", "tmo").out)
    assert lamina("stop", "tmo").code == 0
    assert inspect(lamina, "tmo", "{{.State.ExitCode}} {{.Config.StopTimeout}}") == "137 1"


def test_cidfile_labels_annotations(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    cidfile = tmp_path / "cid"
    labels = tmp_path / "labels"
    labels.write_text("# a comment\nteam=core\n\nshared=file\n")
    result = lamina("run", "-d", "--cidfile", str(cidfile), "--label-file", str(labels),
                    "-l", "shared=flag", "--annotation", "org.example/key=value", "busybox",
                    "sleep", "30")
    assert result.code == 0, result.err
    container_id = result.out.strip()
    assert cidfile.read_text() == container_id
    assert json.loads(inspect(lamina, container_id, "{{json .Config.Labels}}")) == \
        {"shared": "flag", "team": "core"}
    assert inspect(lamina, container_id, "{{json .HostConfig.Annotations}}") == \
        '{"org.example/key":"value"}'
    spec = json.loads(Path(inspect(lamina, container_id, "{{.GraphDriver.Data.MergedDir}}"))
                      .parent.joinpath("config.json").read_text())
    assert spec["annotations"] == {"org.example/key": "value"}
    # docker refuses a cidfile that exists, and creates nothing
    result = lamina("run", "--cidfile", str(cidfile), "busybox", "true")
    assert result.code == 125
    assert one_line(result) == ("Error: container ID file found, make sure the other "
                                f"container isn't running or delete {cidfile}")
    # a run that fails leaves no cidfile behind (docker's)
    result = lamina("run", "--cidfile", str(tmp_path / "cid3"), "--pull", "never", "nosuch:1")
    assert result.code == 125 and not (tmp_path / "cid3").exists()
    created = lamina("create", "--cidfile", str(tmp_path / "cid2"), "busybox", "true")
    assert (tmp_path / "cid2").read_text() == created.out.strip()
    assert len(lamina("ps", "-aq").out.split()) == 2


def test_attach_streams_and_quiet(lamina: Run, image: Image) -> None:
    image()
    script = "echo out; echo err >&2"
    result = lamina("run", "--rm", "-a", "stdout", "busybox", "sh", "-c", script)
    assert (result.out, result.err) == ("out\n", "")
    result = lamina("run", "--rm", "-a", "STDERR", "busybox", "sh", "-c", script)
    assert (result.out, result.err) == ("", "err\n")
    result = lamina("run", "--rm", "-q", "busybox", "sh", "-c", script)
    assert (result.out, result.err) == ("out\n", "err\n")


def test_pull_policy(lamina: Run, image: Image) -> None:
    image("127.0.0.1:9/local/box")
    # missing (the default): the image is here, no pull
    assert lamina("run", "--rm", "127.0.0.1:9/local/box", "true").code == 0
    # always: a pull is tried (nothing listens on port 9)
    result = lamina("run", "--rm", "--pull", "always", "127.0.0.1:9/local/box", "true")
    assert result.code == 125
    assert "Unable to find image" not in result.err
    # never: a missing image is an error, no pull tried
    result = lamina("run", "--rm", "--pull", "never", "127.0.0.1:9/local/other", "true")
    assert result.code == 125
    assert "Unable to find image" not in result.err
    assert "No such image" in result.err
    assert lamina("ps", "-aq").out == ""


def test_platform(lamina: Run, image: Image, load_image: object) -> None:
    from helpers.busybox import busybox_tar
    from lamina.model.platform import Platform

    image()
    host = Platform.host()
    other = "arm64" if host.architecture != "arm64" else "amd64"
    result = lamina("run", "--rm", "--platform", f"linux/{other}", "busybox", "true")
    assert result.code == 125
    assert one_line(result) == (f"Error: image with reference busybox was found but does not "
                                f"match the specified platform: wanted linux/{other}, "
                                f"actual: {host}")
    assert lamina("run", "--rm", "--platform", str(host), "busybox", "true").code == 0
    # An image of another architecture: docker's warning, then it runs as docker's does:
    # its programs run where the kernel takes them (here, host binaries the image mislabels;
    # under qemu where binfmt_misc has a handler), and otherwise the runtime's error.
    load_image([busybox_tar()], tags=["foreign:1"],  # type: ignore[operator]
               config={"architecture": other})
    result = lamina("run", "--rm", "foreign:1", "echo", "ran")
    warning = (f"WARNING: The requested image's platform (linux/{other}) does not match the "
               f"detected host platform ({host}) and no specific platform was requested\n")
    assert (result.code, result.out, result.err) == (0, "ran\n", warning)
    elf = bytearray(Path("/bin/busybox").read_bytes())
    elf[18:20] = {"arm64": 0xB7, "amd64": 0x3E}[other].to_bytes(2, "little")  # e_machine
    from helpers.images import Dir, File

    load_image([{"bin": Dir(), "bin/true": File(bytes(elf), 0o755)}],  # type: ignore[operator]
               tags=["foreign:2"], config={"architecture": other})
    qemu = {"arm64": "aarch64", "amd64": "x86_64"}[other]
    if not Path(f"/proc/sys/fs/binfmt_misc/qemu-{qemu}").exists():
        result = lamina("run", "--name", "foreign", "foreign:2", "/bin/true")
        assert result.code != 0
        assert result.err == warning + "exec /bin/true: exec format error\n"
        assert lamina("ps", "-a", "--format", "{{.Names}} {{.State}}").out == "foreign exited\n"


def test_volumes_from(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("shared\n")
    assert lamina("create", "--name", "holder", "-v", f"{data}:/data", "busybox", "true").code == 0
    result = lamina("run", "--rm", "--volumes-from", "holder", "busybox", "sh", "-c",
                    "cat /data/f; echo more > /data/g")
    assert (result.code, result.out) == (0, "shared\n"), result.err
    assert (data / "g").read_text() == "more\n"
    result = lamina("run", "--rm", "--volumes-from", "holder:ro", "busybox", "sh", "-c",
                    "touch /data/h || echo refused")
    assert "refused" in result.out
    assert not (data / "h").exists()
    result = lamina("run", "--rm", "--volumes-from", "nosuch", "busybox", "true")
    assert result.code == 125 and "No such container: nosuch" in result.err


def test_false_switches(lamina: Run, image: Image) -> None:
    image()
    # --rm=false keeps the container; -d=false attaches
    result = lamina("run", "--rm=false", "-d=false", "--name", "kept", "busybox", "echo", "hi")
    assert (result.code, result.out) == (0, "hi\n")
    assert lamina("ps", "-a", "--all=false", "-q").out == ""
    assert lamina("ps", "--all=true", "--format", "{{.Names}}").out == "kept\n"
    result = lamina("commit", "--pause=false", "kept", "snap:1")
    assert result.code == 0, result.err
    result = lamina("run", "--rm=maybe", "busybox", "true")
    assert result.code == 125
    assert 'invalid argument "maybe" for "--rm" flag' in result.err
    result = lamina("image", "prune", "-f", "--all=false")
    assert result.code == 0, result.err
    assert lamina("images", "-q", "snap:1").out.strip()  # in use by nothing, tagged: kept


def _lamina_on_a_tty(args: list[str], store_root: Path) -> tuple[object, int]:
    """``lamina ARGS`` in a process of its own whose stdin, stdout and stderr are a new
    pseudo-terminal; the process and the terminal's master end."""
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = dict(os.environ, LAMINA_ROOT=str(store_root))
    proc = subprocess.Popen([sys.executable, "-m", "lamina", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    return proc, master


def _read_until(master: int, marker: bytes, timeout: float = 20.0) -> bytes:
    import select
    import time

    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {marker!r} in {seen!r}")
        try:
            seen += os.read(master, 4096)
        except OSError:
            break
    return seen


@pytest.mark.parametrize("keys,typed", [(None, b"\x10\x11"), ("ctrl-a,x", b"\x01x")])
def test_detach_keys(lamina: Run, image: Image, store_root: Path, keys: str | None,
                     typed: bytes) -> None:
    import subprocess

    image()
    flags = ["--detach-keys", keys] if keys else []
    proc, master = _lamina_on_a_tty(["run", "-it", "--name", "tty", *flags, "busybox", "sh"],
                                    store_root)
    assert isinstance(proc, subprocess.Popen)
    try:
        seen = _read_until(master, b"/ # ")
        # busybox's shell may ask where the cursor is (ESC [6n) after its prompt
        with contextlib.suppress(AssertionError):  # (it did not ask)
            if b"\x1b[6n" not in seen:
                seen += _read_until(master, b"\x1b[6n", timeout=1.0)
        if b"\x1b[6n" in seen:
            os.write(master, b"\x1b[1;1R")
        os.write(master, b"echo mark$((40+2))\n")
        _read_until(master, b"mark42")
        # the first key alone is passed on once the next is not the sequence's
        os.write(master, typed[:1] + b"\x15echo again$((1+1))\n")
        _read_until(master, b"again2")
        os.write(master, typed)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    # the container runs on, without anyone attached
    assert inspect(lamina, "tty", "{{.State.Status}}") == "running"
    assert lamina("rm", "-f", "tty").code == 0


@pytest.mark.parametrize("proxy", [True, False])
def test_sig_proxy(lamina: Run, image: Image, store_root: Path, proxy: bool) -> None:
    import signal
    import subprocess
    import sys

    from cli.conftest import wait_for

    image()
    script = 'trap "echo got term; exit 9" TERM; echo ready; while :; do sleep 0.1; done'
    env = dict(os.environ, LAMINA_ROOT=str(store_root))
    proc = subprocess.Popen([sys.executable, "-m", "lamina", "run", "--name", "sp",
                             f"--sig-proxy={str(proxy).lower()}", "busybox", "sh", "-c", script],
                            stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proxy:  # the container got the signal, and its exit is lamina's
        assert code == 9
        assert inspect(lamina, "sp", "{{.State.Status}} {{.State.ExitCode}}") == "exited 9"
    else:  # lamina ended of it; the container runs on
        assert code == -signal.SIGTERM
        wait_for(lambda: inspect(lamina, "sp", "{{.State.Status}}") == "running")
        assert "got term" not in lamina("logs", "sp").out
        assert lamina("rm", "-f", "sp").code == 0
