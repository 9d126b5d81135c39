"""pause, unpause, rename and top on real containers (as root, with runc)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line, wait_for

pytestmark = pytest.mark.root

TICKER = "while :; do echo tick; sleep 0.05; done"


def ticks(lamina: Run, name: str) -> int:
    return lamina("logs", name).out.count("tick")


def test_pause_freezes_and_unpause_thaws(lamina: Run, image: Image) -> None:
    image()
    container_id = lamina("run", "-d", "--name", "p1", "busybox", "sh", "-c", TICKER).out.strip()
    wait_for(lambda: ticks(lamina, "p1") > 0)
    assert lamina("pause", "p1").out == "p1\n"
    time.sleep(0.3)  # a tick on its way to the log still lands
    frozen_at = ticks(lamina, "p1")
    time.sleep(0.5)
    assert ticks(lamina, "p1") == frozen_at  # ten ticks' time, and not one more
    status = lamina("ps", "--format", "{{.Names}} {{.State}} {{.Status}}").out
    assert status.startswith("p1 paused Up ") and status.endswith(" (Paused)\n")
    assert lamina("ps", "-q", "--filter", "status=paused").out == container_id[:12] + "\n"
    assert lamina("ps", "-q", "--filter", "status=running").out == ""
    state = json.loads(lamina("inspect", "p1").out)[0]["State"]
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)

    result = lamina("pause", "p1")
    assert result.code == 1
    assert one_line(result) == f"Error: Container {container_id} is already paused"
    result = lamina("exec", "p1", "true")
    assert result.code == 1
    assert "is paused, unpause the container before exec" in one_line(result)

    assert lamina("unpause", "p1").out == "p1\n"
    wait_for(lambda: ticks(lamina, "p1") > frozen_at)
    state = json.loads(lamina("inspect", "p1").out)[0]["State"]
    assert (state["Status"], state["Paused"]) == ("running", False)
    result = lamina("unpause", "p1")
    assert result.code == 1
    assert one_line(result) == f"Error: Container {container_id} is not paused"


def test_a_paused_container_still_stops_and_is_killed(lamina: Run, image: Image) -> None:
    image()
    lamina("run", "-d", "--name", "s1", "busybox", "sh", "-c", f"trap 'exit 3' TERM; {TICKER}")
    lamina("run", "-d", "--name", "k1", "busybox", "sh", "-c", TICKER)
    wait_for(lambda: ticks(lamina, "s1") > 0 and ticks(lamina, "k1") > 0)
    assert lamina("pause", "s1", "k1").out == "s1\nk1\n"
    assert lamina("stop", "-t", "5", "s1").out == "s1\n"
    assert lamina("wait", "s1").out == "3\n"  # its SIGTERM trap ran, once thawed
    assert lamina("kill", "k1").out == "k1\n"
    assert lamina("wait", "k1").out == "137\n"
    assert lamina("ps", "-q").out == ""
    result = lamina("pause", "k1")
    assert result.code == 1 and "is not running" in one_line(result)


def test_rename(lamina: Run, image: Image) -> None:
    image()
    container_id = lamina("create", "--name", "old", "busybox", "true").out.strip()
    other = lamina("create", "--name", "other", "busybox", "true").out.strip()
    assert lamina("rename", "old", "new").out == ""
    names = lamina("ps", "-a", "--format", "{{.Names}}").out.split()
    assert sorted(names) == ["new", "other"]
    assert lamina("inspect", "--format", "{{.Name}}", container_id).out == "/new\n"
    result = lamina("rename", "old", "x")
    assert result.code == 1 and one_line(result) == "Error: No such container: old"
    result = lamina("rename", "new", "other")
    assert result.code == 1
    assert one_line(result) == (
        'Error: Conflict. The container name "/other" is already in use by container '
        f'"{other}". You have to remove (or rename) that container to be able to reuse that '
        "name.")
    result = lamina("rename", "new", "new")
    assert result.code == 1
    assert "same name as its current name" in one_line(result)
    result = lamina("rename", "new", "bad name!")
    assert result.code == 1 and "Invalid container name (bad name!)" in one_line(result)
    assert sorted(lamina("ps", "-a", "--format", "{{.Names}}").out.split()) == ["new", "other"]
    assert lamina("run", "--rm", "--name", "old", "busybox", "true").code == 0  # free again


def test_top(lamina: Run, image: Image) -> None:
    image()
    lamina("run", "-d", "--name", "t1", "busybox", "sleep", "60")
    wait_for(lambda: "sleep 60" in lamina("top", "t1").out)
    lines = lamina("top", "t1").out.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert len(lines) == 2 and lines[1].startswith("root ")
    custom = lamina("top", "t1", "-o", "pid,comm").out.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and custom[1].split()[1] == "sleep"
    lamina("kill", "t1")
    lamina("wait", "t1")
    result = lamina("top", "t1")
    assert result.code == 1 and "is not running" in one_line(result)


def sleeping(pid: str) -> bool:
    """Whether the process is blocked in a sleep (state S): it uses no CPU until woken."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "S"


def test_stats(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "-d", "--name", "busy", "-m", "64m", "busybox", "sh", "-c",
                  "while :; do :; done").code == 0
    assert lamina("run", "-d", "--name", "idle", "busybox", "sleep", "60").code == 0
    assert lamina("create", "--name", "made", "busybox", "true").code == 0
    table = lamina("stats", "--no-stream").out.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/",
                                "LIMIT", "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS"]
    assert sorted(line.split()[1] for line in table[1:]) == ["busy", "idle"]  # running only
    # the sleeper asleep before the reading starts: then it uses no CPU at all during it,
    # however busy the machine (how much the spinner gets depends on the load: only that it
    # gets some is certain, over a whole second of being runnable)
    idle_pid = lamina("inspect", "-f", "{{.State.Pid}}", "idle").out.strip()
    wait_for(lambda: sleeping(idle_pid))
    fmt = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}|{{.NetIO}}"
    rows = dict(line.split("|", 1) for line in
                lamina("stats", "--no-stream", "-a", "--format", fmt).out.splitlines())
    assert sorted(rows) == ["busy", "idle", "made"]
    busy_cpu, busy_memory, busy_pids, net = rows["busy"].split("|")
    assert float(busy_cpu.rstrip("%")) > 0
    assert busy_memory.endswith(" / 64MiB") and busy_pids == "1" and net == "0B / 0B"
    idle_cpu, idle_memory, idle_pids, _ = rows["idle"].split("|")
    assert idle_cpu == "0.00%"
    assert idle_memory.endswith("GiB") and idle_pids == "1"  # no limit: the host's memory
    assert rows["made"] == "0.00%|0B / 0B|0|0B / 0B"
    named = lamina("stats", "--no-stream", "--format", "{{.Container}} {{.Name}}", "idle")
    assert named.out == "idle idle\n"
    result = lamina("stats", "--no-stream", "nosuch")
    assert result.code == 1 and one_line(result) == "Error: No such container: nosuch"


def test_restart_sends_the_signal_given(lamina: Run, image: Image) -> None:
    image()
    script = 'echo started; trap "echo got usr1; exit 5" USR1; while :; do sleep 0.05; done'
    lamina("run", "-d", "--name", "r1", "busybox", "sh", "-c", script)
    wait_for(lambda: "started" in lamina("logs", "r1").out)
    assert lamina("restart", "-s", "USR1", "-t", "5", "r1").out == "r1\n"
    wait_for(lambda: lamina("logs", "r1").out.count("started") == 2)
    assert lamina("logs", "r1").out == "started\ngot usr1\nstarted\n"
