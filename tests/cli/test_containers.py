"""Real containers through the CLI, as root with runc, from a busybox image built here."""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from cli.conftest import Image, Run, mounts_under, one_line, wait_for

pytestmark = pytest.mark.root


def test_echo_and_exit_codes(lamina: Run, image: Image) -> None:
    image()
    result = lamina("run", "--rm", "busybox", "echo", "hello", "world")
    assert (result.code, result.out) == (0, "hello world\n"), result.err
    assert lamina("run", "--rm", "busybox", "sh", "-c", "exit 42").code == 42
    result = lamina("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 1")
    assert (result.code, result.out, result.err) == (1, "out\n", "err\n")


def test_command_not_found_or_not_executable(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    result = lamina("run", "--rm", "busybox", "nosuch")
    assert result.code == 127
    assert "executable file not found" in one_line(result)
    result = lamina("run", "--rm", "busybox", "/etc/passwd")
    assert result.code == 126
    assert "permission denied" in one_line(result)
    result = lamina("run", "--name", "kept", "busybox", "/no/such/file")
    assert result.code == 127
    # As docker: the container stays, created, with the error; nothing is mounted.
    ps = lamina("ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert ps.out == "kept Created\n"
    assert not mounts_under(store_root)
    assert os.listdir(store_root / "containers") == [lamina("ps", "-aq", "--no-trunc").out.strip()]


def test_bad_input_one_line_nothing_left(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    result = lamina("run", "--rm", "127.0.0.1:9/nosuch/image")
    assert result.code == 125
    assert "Unable to find image '127.0.0.1:9/nosuch/image:latest' locally" in result.err
    assert lamina("create", "--name", "one", "busybox", "true").code == 0
    result = lamina("run", "--name", "one", "busybox", "true")
    assert result.code == 125
    assert 'The container name "/one" is already in use' in one_line(result)
    result = lamina("run", "--network", "nosuch", "busybox", "true")
    assert result.code == 125
    assert one_line(result) == "Error: network nosuch not found"
    assert lamina("run", "--bogus", "busybox").code == 125
    result = lamina("stop", "nosuch")
    assert result.code == 1
    assert one_line(result) == "Error: No such container: nosuch"
    assert len(lamina("ps", "-aq").out.split()) == 1
    assert len(os.listdir(store_root / "containers")) == 1
    assert not mounts_under(store_root)


def test_env_workdir_user_entrypoint_as_docker(lamina: Run, image: Image) -> None:
    image("app", "ENV FOO=bar", "WORKDIR /app", 'ENTRYPOINT ["echo", "ep"]', 'CMD ["default"]')
    assert lamina("run", "--rm", "app").out == "ep default\n"
    assert lamina("run", "--rm", "app", "x", "y").out == "ep x y\n"
    script = 'echo $FOO; pwd; id -u; echo $HOME; echo $HOSTNAME'
    # --entrypoint drops the image's Cmd; WorkingDir is made when missing.
    result = lamina("run", "--rm", "--hostname", "box", "--entrypoint", "sh", "app", "-c", script)
    assert result.out == "bar\n/app\n0\n/root\nbox\n"
    result = lamina("run", "--rm", "-e", "FOO=baz", "-w", "/tmp/new", "-u", "alice",
                    "--entrypoint", "sh", "app", "-c", script)
    assert result.out.splitlines()[:4] == ["baz", "/tmp/new", "1000", "/home/alice"]
    result = lamina("run", "--rm", "-u", "1234:staff", "--entrypoint", "id", "app")
    assert result.out == "uid=1234 gid=50(staff) groups=50(staff)\n"  # as docker
    result = lamina("run", "--rm", "-u", "nobody-here", "app")
    assert result.code == 125
    assert "unable to find user nobody-here" in one_line(result)
    env = lamina("run", "--rm", "--entrypoint", "env", "app").out.splitlines()
    assert env[0].startswith("PATH=/usr/local/sbin:")  # docker's default PATH
    assert "FOO=bar" in env


def test_env_file_and_passthrough(lamina: Run, image: Image, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    image()
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\nSHARED=file\n")
    monkeypatch.setenv("PASSED_THROUGH", "yes")
    result = lamina("container", "run", "--rm", "--env-file", str(env_file), "-e", "SHARED=flag",
                    "-e", "PASSED_THROUGH", "-e", "NOT_SET_ANYWHERE", "busybox", "env")
    lines = result.out.splitlines()
    assert {"FROM_FILE=1", "SHARED=flag", "PASSED_THROUGH=yes"} <= set(lines)
    assert not any(line.startswith("NOT_SET_ANYWHERE") for line in lines)


def test_detached_logs_stop_restart_rm(lamina: Run, image: Image) -> None:
    image()
    script = 'echo started; trap "echo bye; exit 3" TERM; while :; do sleep 0.1; done'
    result = lamina("run", "-d", "--name", "d1", "busybox", "sh", "-c", script)
    assert result.code == 0
    container_id = result.out.strip()
    assert len(container_id) == 64
    wait_for(lambda: "started" in lamina("logs", "d1").out)
    ps = lamina("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}").out
    assert ps.startswith(f"{container_id[:12]} d1 Up ")
    assert lamina("stop", "-t", "5", "d1").out == "d1\n"
    assert lamina("ps", "-q").out == ""
    status = lamina("ps", "-a", "--format", "{{.Status}}").out
    assert status.startswith("Exited (3) ")
    assert lamina("logs", "d1").out == "started\nbye\n"
    assert lamina("logs", "--tail", "1", "d1").out == "bye\n"
    stamped = lamina("logs", "-t", "d1").out.splitlines()[0]
    assert stamped.endswith("Z started") and stamped[:4].isdigit()
    assert lamina("wait", "d1").out == "3\n"
    assert lamina("restart", "d1").code == 0
    wait_for(lambda: lamina("logs", "d1").out.count("started") == 2)
    assert lamina("ps", "--format", "{{.Names}}").out == "d1\n"
    result = lamina("rm", "d1")
    assert result.code == 1
    assert "container is running" in one_line(result)
    assert lamina("rm", "-f", "d1").out == "d1\n"
    assert lamina("ps", "-aq").out == ""


def test_kill_wait_and_log_json(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    container_id = lamina("run", "-d", "busybox", "sh", "-c", "echo hi; sleep 30").out.strip()
    wait_for(lambda: lamina("logs", container_id).out == "hi\n")
    assert lamina("kill", "-s", "TERM", container_id[:8]).code == 0  # pid 1 ignores TERM
    assert lamina("kill", container_id[:8]).out == f"{container_id[:8]}\n"
    assert lamina("wait", container_id).out == "137\n"
    log = store_root / "containers" / container_id / f"{container_id}-json.log"
    entry = json.loads(log.read_text().splitlines()[0])
    assert entry["log"] == "hi\n" and entry["stream"] == "stdout"
    assert entry["time"].endswith("Z")
    result = lamina("kill", container_id)
    assert result.code == 1 and "is not running" in result.err


def test_exec_into_running_container(lamina: Run, image: Image) -> None:
    image()
    lamina("run", "-d", "--name", "box", "-e", "A=1", "busybox", "sleep", "30")
    result = lamina("exec", "box", "sh", "-c", "echo $((6 * 7)) $A")
    assert (result.code, result.out) == (0, "42 1\n")
    result = lamina("exec", "-e", "A=2", "-w", "/tmp", "-u", "alice", "box",
                    "sh", "-c", "echo $A; pwd; id -u")
    assert result.out == "2\n/tmp\n1000\n"
    assert lamina("exec", "box", "sh", "-c", "exit 9").code == 9
    result = lamina("exec", "box", "nosuch")
    assert result.code == 126  # docker: 126 for any exec that cannot start
    assert "executable file not found" in one_line(result)
    assert lamina("exec", "-i", "box", "cat", stdin=b"through stdin").out == "through stdin"
    # What exec sees is the container's: a file written by one exec is seen by the next.
    lamina("exec", "box", "sh", "-c", "echo shared > /tmp/f")
    assert lamina("exec", "box", "cat", "/tmp/f").out == "shared\n"


def test_stdin_with_i(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "--rm", "-i", "busybox", "cat", stdin=b"piped\n").out == "piped\n"
    assert lamina("run", "--rm", "busybox", "cat", stdin=b"not given").out == ""


def test_commit_then_run_the_new_image(lamina: Run, image: Image, tmp_path: Path) -> None:
    base = image()
    script = "echo v2 > /etc/version; rm /bin/wc; mkdir -p /opt/new"
    assert lamina("run", "--name", "c1", "busybox", "sh", "-c", script).code == 0
    diff = lamina("diff", "c1").out.splitlines()
    assert diff == ["C /bin", "D /bin/wc", "C /etc", "A /etc/version", "A /opt", "A /opt/new"]
    result = lamina("commit", "-m", "made v2", "-a", "Tester <t@example.com>",
                    "-c", 'CMD ["cat", "/etc/version"]', "c1", "mine:v2")
    assert result.code == 0, result.err
    new_id = result.out.strip()
    assert lamina("run", "--rm", "mine:v2").out == "v2\n"
    assert lamina("run", "--rm", "mine:v2", "wc").code == 127
    inspect = json.loads(lamina("image", "inspect", "mine:v2").out)[0]
    assert inspect["Id"] == new_id
    assert inspect["Parent"] == base
    assert inspect["Author"] == "Tester <t@example.com>"
    assert inspect["Config"]["Cmd"] == ["cat", "/etc/version"]
    assert len(inspect["RootFS"]["Layers"]) == 2
    history = lamina("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}",
                     "mine:v2").out
    assert history.splitlines()[0] == f"sh -c {script}|made v2"
    out = tmp_path / "c.tar"
    assert lamina("export", "-o", str(out), "c1").code == 0
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert "etc/version" in names and "bin/wc" not in names and "bin/sh" in names
    # The image a container uses cannot go without -f; the child image keeps it anyway.
    result = lamina("rmi", "busybox")
    assert result.code == 1 and "container" in result.err
    lamina("rm", "c1")
    assert lamina("rmi", "mine:v2").code == 0


def test_rm_leaves_nothing(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    assert lamina("run", "--rm", "busybox", "sh", "-c", "echo x > /x").code == 0
    assert lamina("ps", "-aq").out == ""
    assert os.listdir(store_root / "containers") == []
    assert not mounts_under(store_root)
    assert lamina("run", "-d", "--rm", "--name", "gone", "busybox", "true").code == 0
    wait_for(lambda: lamina("ps", "-aq").out == "")
    wait_for(lambda: os.listdir(store_root / "containers") == [])
    assert not mounts_under(store_root)


def test_ten_containers_share_the_image_snapshots(lamina: Run, image: Image,
                                                   store_root: Path) -> None:
    image()
    ids = [lamina("run", "-d", "busybox", "sleep", "30").out.strip() for _ in range(10)]
    assert len(set(ids)) == 10
    rows = lamina("ps", "--format", "{{.Status}}").out.splitlines()
    assert len(rows) == 10 and all(r.startswith("Up ") for r in rows)
    snapshots = os.listdir(store_root / "snapshots" / "sha256")
    assert len(snapshots) == 1
    # (each has its overlay, and its network namespace pinned on the default bridge)
    mounts = [m for m in mounts_under(store_root / "containers") if " - overlay " in m]
    assert len(mounts) == 10
    assert all(f"sha256/{snapshots[0]}/fs" in line for line in mounts)
    assert lamina("rm", "-f", *ids).code == 0
    assert not mounts_under(store_root)


def test_hostile_workdir_through_proc(lamina: Run, image: Image, store_root: Path) -> None:
    image("evil1", "WORKDIR /proc/self/fd/5")
    result = lamina("run", "--rm", "evil1", "pwd")
    assert result.code == 125
    assert "refused" in one_line(result)
    image("evil2", "WORKDIR /work", symlinks={"work": "/proc/self/fd/7"})
    result = lamina("run", "--rm", "evil2", "pwd")
    assert result.code == 125
    assert lamina("run", "--rm", "-w", "/../../proc/1/cwd", "busybox", "pwd").code == 125
    assert lamina("ps", "-aq").out == ""
    assert not mounts_under(store_root)


def test_hostile_passwd_symlink(lamina: Run, image: Image, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("mallory:x:4242:4242::/:/bin/sh\n")
    image("evil3", symlinks={"etc/passwd": str(outside / "passwd")})
    result = lamina("run", "--rm", "-u", "mallory", "evil3", "id")
    assert result.code == 125
    assert "unable to find user mallory" in one_line(result)
    image("evil4", symlinks={"etc/passwd": "../../../../../../../../" + str(outside / "passwd")})
    assert lamina("run", "--rm", "-u", "mallory", "evil4", "id").code == 125
    # The image's own files, through a symlink that stays inside, are used.
    image("fine", extra={"etc/users": b"bob:x:77:77::/home/bob:/bin/sh\n"},
          symlinks={"etc/passwd": "users"})
    assert lamina("run", "--rm", "-u", "bob", "fine", "id", "-u").out == "77\n"


def test_ps_columns_filters_and_formats(lamina: Run, image: Image) -> None:
    image()
    lamina("run", "--name", "zero", "-l", "team=a", "busybox", "true")
    lamina("run", "--name", "three", "busybox", "sh", "-c", "exit 3")
    lamina("create", "--name", "fresh", "busybox", "echo", "a long command line here")
    lamina("run", "-d", "--name", "up", "busybox", "sleep", "30")
    table = lamina("ps", "-a").out.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]
    assert len(table) == 5
    assert '"echo \'a long comman…"' in table[2]  # docker quotes an argument with spaces
    assert lamina("ps", "--format", "{{.Names}}").out == "up\n"
    names = lamina("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}").out
    assert sorted(names.split()) == ["three", "zero"]
    assert lamina("ps", "-a", "-f", "exited=3", "--format", "{{.Names}}").out == "three\n"
    assert lamina("ps", "-a", "-f", "label=team=a", "--format", "{{.Names}}").out == "zero\n"
    assert lamina("ps", "-a", "-f", "name=fre", "--format", "{{.Status}}").out == "Created\n"
    assert len(lamina("ps", "-a", "-f", "ancestor=busybox", "-q").out.split()) == 4
    assert lamina("ps", "-l", "--format", "{{.Names}}").out == "up\n"
    assert len(lamina("ps", "-n", "2", "-q").out.split()) == 2
    assert lamina("ps", "-a", "--filter", "status=bogus").code == 1
    sized = lamina("ps", "-s", "--format", "{{.Size}}").out
    assert "(virtual " in sized
    assert lamina("container", "ls", "-a", "-q").out == lamina("ps", "-aq").out


def test_inspect_container(lamina: Run, image: Image) -> None:
    image_id = image()
    lamina("run", "--name", "done", "-e", "X=1", "busybox", "sh", "-c", "exit 5")
    data = json.loads(lamina("inspect", "done").out)[0]
    assert data["Name"] == "/done"
    assert data["Image"] == image_id
    assert data["State"]["Status"] == "exited" and data["State"]["ExitCode"] == 5
    assert data["Path"] == "sh" and data["Args"] == ["-c", "exit 5"]
    assert "X=1" in data["Config"]["Env"]
    assert data["HostConfig"]["NetworkMode"] == "bridge"
    out = lamina("inspect", "--type", "container", "-f", "{{.State.Status}}", "done").out
    assert out == "exited\n"
    assert lamina("container", "inspect", "-f", "{{.Name}}", "done").out == "/done\n"
    assert lamina("inspect", "--type", "container", "busybox").code == 1
    assert json.loads(lamina("inspect", "busybox").out)[0]["Id"] == image_id


def test_container_prune(lamina: Run, image: Image) -> None:
    image()
    lamina("run", "busybox", "true")
    lamina("run", "-d", "--name", "alive", "busybox", "sleep", "30")
    result = lamina("container", "prune", "-f")
    assert result.code == 0
    assert result.out.startswith("Deleted Containers:\n")
    assert "Total reclaimed space:" in result.out
    assert lamina("ps", "-a", "--format", "{{.Names}}").out == "alive\n"


def test_limits_readonly_and_volumes(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in").write_text("from host\n")
    result = lamina("run", "--rm", "-v", f"{shared}:/data", "-v", f"{shared}:/ro:ro",
                    "busybox", "sh", "-c", "cat /data/in; echo back > /data/out; "
                    "echo no > /ro/x || echo refused")
    assert result.out == "from host\nrefused\n"
    assert (shared / "out").read_text() == "back\n"
    result = lamina("run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x || echo ro")
    assert result.out == "ro\n"
    result = lamina("run", "--rm", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5",
                    "--network", "none", "busybox", "sh", "-c",
                    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                    "/sys/fs/cgroup/pids/pids.max 2>/dev/null; hostname")
    assert result.code == 0, result.err
    lines = result.out.split()
    assert lines[:2] == [str(64 * 1024 * 1024), "50"]
    result = lamina("run", "--rm", "--cap-drop", "ALL", "busybox", "sh", "-c",
                    "grep CapEff /proc/self/status")
    assert result.out.split() == ["CapEff:", "0000000000000000"]
    assert lamina("run", "--rm", "--cap-add", "BOGUS", "busybox", "true").code == 125


def test_signals_reach_the_container(image: Image, store_root: Path) -> None:
    import signal
    import subprocess
    import sys

    image()
    script = 'trap "echo got INT; exit 7" INT; echo ready; while :; do sleep 0.1; done'
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, LAMINA_ROOT=str(store_root), PYTHONPATH=src)
    proc = subprocess.Popen([sys.executable, "-m", "lamina", "run", "--rm", "busybox", "sh",
                             "-c", script], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 7
    assert out == b"got INT\n"
    assert os.listdir(store_root / "containers") == []


def test_logs_follow(lamina: Run, image: Image) -> None:
    image()
    lamina("run", "-d", "--name", "talker", "busybox", "sh", "-c",
           "echo a; sleep 0.5; echo b >&2; sleep 0.3")
    result = lamina("logs", "-f", "talker")
    assert (result.out, result.err) == ("a\n", "b\n")


def test_runtime_setting_and_missing_runtime(lamina: Run, image: Image, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    image()
    result = lamina("run", "--rm", "--runtime", "no-such-runtime", "busybox", "true")
    assert result.code == 125
    assert result.err.splitlines()[0] == "Error: OCI runtime 'no-such-runtime' not found"
    assert "apt-get install runc" in result.err
    assert lamina("ps", "-aq").out == ""
    config = tmp_path / "config.toml"
    config.write_text('[containers]\nruntime = "runc"\n')
    monkeypatch.setenv("LAMINA_CONFIG", str(config))
    assert lamina("run", "--rm", "busybox", "true").code == 0
    config.write_text('[containers]\nruntime = "no-such-runtime"\n')
    assert lamina("run", "--rm", "busybox", "true").code == 125


def test_tty_run_and_exec(image: Image, store_root: Path) -> None:
    import pty
    import select
    import sys

    image()
    src = str(Path(__file__).resolve().parents[2] / "src")

    def drive(argv: list[str], lines: list[bytes]) -> tuple[bytes, int]:
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child execs
            os.environ.update(LAMINA_ROOT=str(store_root), PYTHONPATH=src)
            os.execv(sys.executable, [sys.executable, "-m", "lamina", *argv])
        out = b""

        def pump(seconds: float) -> None:
            nonlocal out
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if select.select([fd], [], [], 0.05)[0]:
                    try:
                        out += os.read(fd, 4096)
                    except OSError:
                        return

        pump(1.0)
        for line in lines:
            os.write(fd, line)
            pump(0.5)
        _, status = os.waitpid(pid, 0)
        pump(0.1)
        os.close(fd)
        return out, os.waitstatus_to_exitcode(status)

    out, code = drive(["run", "--rm", "-it", "busybox", "sh"],
                      [b"tty; echo $((40 + 2)) $TERM\n", b"exit 5\n"])
    # (A terminal's line discipline adds \r; how many depends on when raw mode is set.)
    assert code == 5
    assert b"/dev/pts/0\n42 xterm\n" in out.replace(b"\r", b"")
    container_id = subprocess_lamina(store_root, src, "run", "-d", "busybox", "sleep", "30")
    out, code = drive(["exec", "-it", container_id, "sh"], [b"echo in-$((1 + 1))\n", b"exit 3\n"])
    assert code == 3
    assert b"in-2\n" in out.replace(b"\r", b"")


def subprocess_lamina(store_root: Path, src: str, *argv: str) -> str:
    import subprocess
    import sys

    env = dict(os.environ, LAMINA_ROOT=str(store_root), PYTHONPATH=src)
    return subprocess.run([sys.executable, "-m", "lamina", *argv], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_rmi_force_with_containers(lamina: Run, image: Image) -> None:
    image_id = image()
    lamina("run", "-d", "--name", "alive", "busybox", "sleep", "30")
    result = lamina("rmi", "-f", "busybox")
    assert result.code == 1
    assert "(cannot be forced) - image is being used by running container" in result.err
    lamina("rm", "-f", "alive")
    lamina("run", "--name", "stopped", "busybox", "true")
    result = lamina("rmi", "-f", "busybox")
    assert (result.code, result.out) == (0, "Untagged: busybox:latest\n")
    # The stopped container still runs from its image, by ID.
    assert lamina("start", "-a", "stopped").code == 0
    assert lamina("images", "-q", "--no-trunc").out == f"{image_id}\n"


def test_killed_monitor_leaves_a_consistent_record(lamina: Run, image: Image,
                                                   store_root: Path) -> None:
    import signal

    image()
    container_id = lamina("run", "-d", "busybox", "sleep", "30").out.strip()
    data = json.loads(lamina("inspect", container_id).out)[0]
    init_pid = data["State"]["Pid"]
    from lamina.store import Store

    with Store(store_root) as store:
        record = store.containers.get(container_id)
        assert record is not None and record.monitor_pid
        monitor = record.monitor_pid
    os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{monitor}").exists()
              or "Z" in Path(f"/proc/{monitor}/stat").read_text().split()[2])
    status = lamina("ps", "-a", "--format", "{{.Status}}").out
    assert status.startswith("Exited (255)")
    # Its container does not run on, unwatched; nothing stays mounted.
    wait_for(lambda: not Path(f"/proc/{init_pid}").exists()
              or "Z" in Path(f"/proc/{init_pid}/stat").read_text().split()[2])
    assert not mounts_under(store_root)
