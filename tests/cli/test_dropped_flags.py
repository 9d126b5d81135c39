"""Flags that were parsed and then dropped: each now does what docker's does.

(``container prune --filter`` and ``restart -s`` were the first two found; these are the rest
of the audit. ``tests/arch/test_flags_used.py`` keeps any command from dropping one again.)
"""

from __future__ import annotations

import re
import time

from .conftest import Image, Run


def test_commit_pauses_a_running_container(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "-d", "--name", "box", "busybox", "sleep", "60").code == 0
    assert lamina("commit", "box", "snap:1").code == 0
    assert lamina("commit", "--no-pause", "box", "snap:2").code == 0
    actions = lamina("events", "--since", "1h", "--until", f"{time.time():.9f}",
                     "--filter", "container=box", "--format", "{{.Action}}").out.split()
    # docker pauses around a commit (-p, the default), and not with it off.
    assert actions[actions.index("start") + 1:] == ["pause", "commit", "unpause", "commit"]
    assert lamina("inspect", "-f", "{{.State.Status}}", "box").out == "running\n"


def test_commit_leaves_a_paused_container_paused(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "-d", "--name", "box", "busybox", "sleep", "60").code == 0
    assert lamina("pause", "box").code == 0
    assert lamina("commit", "box", "snap:1").code == 0
    assert lamina("inspect", "-f", "{{.State.Status}}", "box").out == "paused\n"
    assert lamina("unpause", "box").code == 0


def test_exec_detach_returns_while_the_process_runs(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "-d", "--name", "box", "busybox", "sleep", "60").code == 0
    # Were -d dropped, this would wait the whole 1000 s (and the test would time out).
    result = lamina("exec", "-d", "box", "sleep", "1000")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert "sleep 1000" in lamina("exec", "box", "ps").out
    assert lamina("exec", "-d", "box", "nosuch").code == 1  # docker: the start failed


def test_logs_details(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "--name", "box", "busybox", "echo", "hi").code == 0
    # docker prints the log's attributes, then a space: lamina's logs have none.
    assert lamina("logs", "--details", "box").out == " hi\n"
    assert lamina("logs", "box").out == "hi\n"
    stamped = lamina("logs", "-t", "--details", "box").out
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z  hi\n", stamped), stamped


def test_rm_link_never_removes_the_container(lamina: Run, image: Image) -> None:
    image()
    assert lamina("create", "--name", "box", "busybox", "true").code == 0
    result = lamina("rm", "-l", "box")
    assert result.code == 1
    assert result.err == ("Error: Conflict, cannot remove the default link name of the "
                          "container\n")
    gone = lamina("rm", "-l", "/web/box")
    assert gone.code == 1 and gone.err == "Error: No such container: web/box\n"
    assert lamina("ps", "-a", "--format", "{{.Names}}").out == "box\n"
    assert lamina("rm", "-v", "box").out == "box\n"
