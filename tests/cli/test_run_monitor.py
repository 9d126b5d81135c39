"""What each container's monitor does beyond running it: restart policies, health checks, log
rotation; and what ps, inspect and logs show of it. Real containers (runc); every wait is a
poll for a state, never a sleep that must be long enough."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line, wait_for

pytestmark = pytest.mark.root


def inspect(lamina: Run, name: str, template: str) -> str:
    result = lamina("inspect", "-f", template, name)
    assert result.code == 0, result.err
    return result.out.strip()


def state(lamina: Run, name: str) -> str:
    return inspect(lamina, name, "{{.State.Status}}")


def test_restart_on_failure_counts_and_stops(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh",
                  "-c", "echo run; exit 3").code == 0
    wait_for(lambda: state(lamina, "flaky") == "exited", timeout=20)
    assert inspect(lamina, "flaky", "{{.RestartCount}} {{.State.ExitCode}}") == "2 3"
    assert inspect(lamina, "flaky", "{{json .HostConfig.RestartPolicy}}") == \
        '{"MaximumRetryCount":2,"Name":"on-failure"}' or json.loads(
            inspect(lamina, "flaky", "{{json .HostConfig.RestartPolicy}}")) == \
        {"Name": "on-failure", "MaximumRetryCount": 2}
    assert lamina("logs", "flaky").out == "run\nrun\nrun\n"  # the first run and 2 restarts

    def events() -> list[str]:
        out = lamina("events", "--since", "10m", "--until", "0s", "--filter",
                     "container=flaky", "--format",
                     "{{.Action}} {{.Actor.Attributes.exitCode}}").out
        return [e.replace(" <no value>", "") for e in out.splitlines()]

    # (the exit's die is recorded beside the exited state, not with it: wait for it)
    wait_for(lambda: len(events()) >= 7)
    assert events() == ["create", "start", "die 3", "start", "die 3", "start", "die 3"]
    # on-failure does not restart a success
    assert lamina("run", "-d", "--name", "fine", "--restart", "on-failure", "busybox",
                  "true").code == 0
    wait_for(lambda: state(lamina, "fine") == "exited")
    assert inspect(lamina, "fine", "{{.RestartCount}}") == "0"
    # a manual start counts anew, as docker's
    assert lamina("start", "flaky").code == 0
    wait_for(lambda: state(lamina, "flaky") == "exited" and
             lamina("logs", "flaky").out.count("run") == 6, timeout=20)
    assert inspect(lamina, "flaky", "{{.RestartCount}}") == "2"


def test_restart_always_until_stopped(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "-d", "--name", "loop", "--restart", "always", "busybox", "sh", "-c",
                  "trap \"exit 0\" TERM; echo run; sleep 0.2").code == 0
    wait_for(lambda: int(inspect(lamina, "loop", "{{.RestartCount}}")) >= 2, timeout=20)
    assert state(lamina, "loop") in ("running", "restarting")
    # StartedAt is the last start's
    from lamina.cli.format.units import parse_rfc3339

    first = parse_rfc3339(inspect(lamina, "loop", "{{.State.StartedAt}}"))
    count = int(inspect(lamina, "loop", "{{.RestartCount}}"))
    wait_for(lambda: int(inspect(lamina, "loop", "{{.RestartCount}}")) > count, timeout=20)
    assert parse_rfc3339(inspect(lamina, "loop", "{{.State.StartedAt}}")) > first
    status = lamina("ps", "--format", "{{.Status}}").out
    assert status.startswith(("Up ", "Restarting (0) ")), status
    assert lamina("stop", "loop").out == "loop\n"
    assert state(lamina, "loop") == "exited"
    runs = lamina("logs", "loop").out.count("run")
    count = inspect(lamina, "loop", "{{.RestartCount}}")
    # the monitor is gone: nothing restarts it any more
    assert lamina("wait", "loop").code == 0
    assert lamina("ps", "-q").out == ""
    assert inspect(lamina, "loop", "{{.RestartCount}}") == count
    assert lamina("logs", "loop").out.count("run") == runs
    # wait: the next exit, as docker's, though the container runs on
    assert lamina("run", "-d", "--name", "again", "--restart", "always", "busybox", "sh", "-c",
                  "sleep 0.2; exit 4").code == 0
    assert lamina("wait", "again").out == "4\n"
    assert state(lamina, "again") in ("running", "restarting")
    assert lamina("rm", "-f", "again").code == 0
    # unless-stopped, ended by rm -f
    assert lamina("run", "-d", "--name", "loop2", "--restart", "unless-stopped", "busybox",
                  "sh", "-c", "sleep 0.2").code == 0
    wait_for(lambda: int(inspect(lamina, "loop2", "{{.RestartCount}}")) >= 1, timeout=20)
    assert lamina("rm", "-f", "loop2").code == 0
    assert lamina("ps", "-aq", "--filter", "name=loop2").out == ""
    # kill (SIGKILL or the stop signal) ends the restarts too; another signal does not
    assert lamina("run", "-d", "--name", "loop3", "--restart", "always", "busybox", "sh", "-c",
                  'trap "exit 1" HUP; while :; do sleep 0.1; done').code == 0
    assert lamina("kill", "-s", "HUP", "loop3").code == 0
    wait_for(lambda: inspect(lamina, "loop3", "{{.RestartCount}}") == "1", timeout=20)
    wait_for(lambda: state(lamina, "loop3") == "running")
    assert lamina("kill", "loop3").code == 0
    assert lamina("wait", "loop3").out == "137\n"
    assert state(lamina, "loop3") == "exited"


def test_attached_run_returns_at_the_first_exit(lamina: Run, image: Image) -> None:
    image()
    result = lamina("run", "--name", "att", "--restart", "on-failure:1", "busybox", "sh", "-c",
                    "echo once; exit 4")
    assert (result.code, result.out) == (4, "once\n")
    wait_for(lambda: state(lamina, "att") == "exited", timeout=20)
    assert inspect(lamina, "att", "{{.RestartCount}} {{.State.ExitCode}}") == "1 4"
    assert lamina("logs", "att").out == "once\nonce\n"


def test_health_checks(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    assert lamina("run", "-d", "--name", "hc", "--health-cmd", "test -e /tmp/ok && echo fine",
                  "--health-interval", "100ms", "--health-retries", "2", "busybox", "sleep",
                  "60").code == 0
    assert lamina("run", "-d", "--name", "nohc", "busybox", "sleep", "60").code == 0
    wait_for(lambda: inspect(lamina, "hc", "{{.State.Health.Status}}") == "unhealthy")
    assert lamina("ps", "--filter", "name=hc", "--format", "{{.Status}}").out.endswith(
        "(unhealthy)\n")
    assert lamina("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").out == "hc\n"
    assert lamina("ps", "--filter", "health=none", "--format", "{{.Names}}").out == "nohc\n"
    health = json.loads(inspect(lamina, "hc", "{{json .State.Health}}"))
    assert health["FailingStreak"] >= 2
    assert health["Log"][-1]["ExitCode"] == 1
    assert lamina("exec", "hc", "touch", "/tmp/ok").code == 0
    wait_for(lambda: inspect(lamina, "hc", "{{.State.Health.Status}}") == "healthy")
    wait_for(lambda: "health_status: healthy" in lamina(
        "events", "--since", "10m", "--until", "0s", "--filter", "container=hc", "--format",
        "{{.Action}}").out)
    actions = lamina("events", "--since", "10m", "--until", "0s", "--filter", "container=hc",
                     "--format", "{{.Action}}").out.splitlines()
    assert [a for a in actions if a.startswith("health_status")] == \
        ["health_status: unhealthy", "health_status: healthy"]
    health = json.loads(inspect(lamina, "hc", "{{json .State.Health}}"))
    assert health["FailingStreak"] == 0
    assert health["Log"][-1]["Output"] == "fine\n"
    assert len(health["Log"]) <= 5
    assert lamina("ps", "--filter", "health=healthy", "-q").out.strip()
    # stopped, its health is unhealthy (docker's rule), its log kept; started, it starts over
    assert lamina("stop", "-t", "0", "hc").code == 0
    health = json.loads(inspect(lamina, "hc", "{{json .State.Health}}"))
    assert health["Status"] == "unhealthy" and health["Log"][-1]["Output"] == "fine\n"
    assert lamina("start", "hc").code == 0
    assert inspect(lamina, "hc", "{{.State.Health.Status}}") in ("starting", "healthy")
    result = lamina("ps", "--filter", "health=poorly")
    assert result.code != 0 and "health" in one_line(result)
    # a check that takes longer than its timeout fails with docker's words
    assert lamina("run", "-d", "--name", "slow", "--health-cmd", "sleep 5", "--health-interval",
                  "100ms", "--health-timeout", "200ms", "--health-retries", "1", "busybox",
                  "sleep", "60").code == 0
    wait_for(lambda: inspect(lamina, "slow", "{{.State.Health.Status}}") == "unhealthy",
             timeout=20)
    health = json.loads(inspect(lamina, "slow", "{{json .State.Health}}"))
    assert health["Log"][-1]["Output"] == "Health check exceeded timeout (0.2s)"


def test_image_healthcheck_and_no_healthcheck(lamina: Run, image: Image,
                                              tmp_path: Path) -> None:
    image()
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD test -e /etc/passwd\n")
    assert lamina("build", "-q", "-t", "checked", str(context)).code == 0
    assert lamina("run", "-d", "--name", "img", "checked", "sleep", "60").code == 0
    assert lamina("run", "-d", "--name", "off", "--no-healthcheck", "checked", "sleep",
                  "60").code == 0
    wait_for(lambda: inspect(lamina, "img", "{{.State.Health.Status}}") == "healthy")
    assert inspect(lamina, "off", "{{json .Config.Healthcheck}}") == '{"Test":["NONE"]}'
    assert "Health" not in json.loads(inspect(lamina, "off", "{{json .State}}"))
    # flags override the image's check field by field
    assert lamina("create", "--name", "over", "--health-retries", "7", "checked", "true").code == 0
    check = json.loads(inspect(lamina, "over", "{{json .Config.Healthcheck}}"))
    assert check["Retries"] == 7 and check["Test"] == ["CMD-SHELL", "test -e /etc/passwd"]


def test_log_driver_none_and_rotation(lamina: Run, image: Image, store_root: Path) -> None:
    image()
    assert lamina("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo",
                  "hi").out == "hi\n"
    result = lamina("logs", "quiet")
    assert result.code == 1
    assert "configured logging driver does not support reading" in one_line(result)
    script = "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done"
    assert lamina("run", "--name", "rot", "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
                  "busybox", "sh", "-c", script).code == 0
    container_id = inspect(lamina, "rot", "{{.Id}}")
    logs = sorted(p.name for p in (store_root / "containers" / container_id).iterdir()
                  if p.name.startswith(container_id + "-json.log"))
    assert logs == [f"{container_id}-json.log", f"{container_id}-json.log.1",
                    f"{container_id}-json.log.2"]
    for name in logs:
        assert (store_root / "containers" / container_id / name).stat().st_size <= 2048
    lines = lamina("logs", "rot").out.splitlines()
    assert lines[-1] == "line-199"
    assert 10 < len(lines) < 200  # the oldest rotated away, the rest in order
    first = int(lines[0].removeprefix("line-"))
    assert lines == [f"line-{i}" for i in range(first, 200)]
    assert lamina("logs", "--tail", "2", "rot").out == "line-198\nline-199\n"


def test_logs_since_until(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "--name", "timed", "busybox", "sh", "-c",
                  "echo one; sleep 0.05; echo two; sleep 0.05; echo three").code == 0
    stamped = lamina("logs", "-t", "timed").out.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two", "three"]
    second = stamped[1].split(" ", 1)[0]
    assert lamina("logs", "--since", second, "timed").out == "two\nthree\n"
    assert lamina("logs", "--until", second, "timed").out == "one\n"
    assert lamina("logs", "--since", "1h", "timed").out == "one\ntwo\nthree\n"
    assert lamina("logs", "--until", "1h", "timed").out == ""
    assert lamina("logs", "--since", str(int(time.time()) + 3600), "timed").out == ""
    assert lamina("logs", "--since", "2000-01-01", "timed").out == "one\ntwo\nthree\n"
    result = lamina("logs", "--since", "yesterday-ish", "timed")
    assert result.code == 1
    assert 'failed to parse value as time or duration: "yesterday-ish"' in one_line(result)


def test_ps_filters(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    image("web", "EXPOSE 80/tcp 8080")
    vol = tmp_path / "vol"
    vol.mkdir()
    assert lamina("create", "--name", "c1", "busybox", "true").code == 0
    assert lamina("create", "--name", "c2", "--network", "none", "-v", f"{vol}:/data",
                  "busybox", "true").code == 0
    assert lamina("create", "--name", "c3", "web", "true").code == 0

    def names(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--filter", f)]
        result = lamina("ps", "-a", *args, "--format", "{{.Names}}")
        assert result.code == 0, result.err
        return sorted(result.out.split())

    assert names("since=c1") == ["c2", "c3"]
    assert names("before=c3") == ["c1", "c2"]
    assert names("since=c1", "before=c3") == ["c2"]
    assert names("volume=/data") == ["c2"]
    assert names(f"volume={vol}") == ["c2"]
    assert names("network=none") == ["c2"]
    assert names("network=bridge") == ["c1", "c3"]  # (the default network, as docker's)
    assert names("network=host") == []
    # expose=/publish= look at the ports of running containers only (docker's PORTS column
    # shows none for a container created or stopped)
    assert names("expose=80") == []
    assert lamina("ps", "-a", "--format", "{{.Names}}:{{.Ports}}", "--filter",
                  "name=c3").out == "c3:\n"
    assert lamina("run", "-d", "--name", "c4", "--network", "none", "web", "sleep",
                  "300").code == 0
    assert names("expose=80") == ["c4"]
    assert names("expose=8080/tcp") == ["c4"]
    assert names("expose=8000-8100") == ["c4"]
    assert names("expose=81") == []
    assert names("publish=80") == []  # (nothing is published: no -p)
    assert names("publish=80", "expose=80") == ["c4"]  # either one lets it through
    result = lamina("ps", "-a", "--filter", "publish=eighty")
    assert result.code == 1 and "invalid filter value: eighty" in one_line(result)
    result = lamina("ps", "-a", "--filter", "publish=8080:80")
    assert result.code == 1
    assert one_line(result) == "Error: filter for 'publish' should not contain ':': 8080:80"
    assert names("health=none") == ["c1", "c2", "c3", "c4"]  # (no health check)
    assert names("health=starting") == []
    result = lamina("ps", "-a", "--filter", "since=nosuch")
    assert result.code == 1 and "no such container nosuch" in one_line(result)


def test_containers_with_busy_health_checks_end(lamina: Run, image: Image) -> None:
    """A check racing the container's end leaves half-made exec processes inside its pid
    namespace, orphaned to the monitor; unreaped, the kernel never lets the container end."""
    image()
    names = [f"short{i}" for i in range(6)]
    for name in names:
        assert lamina("run", "-d", "--name", name, "--health-cmd", "true", "--health-interval",
                      "1ms", "busybox", "sh", "-c", "sleep 0.3").code == 0
    for name in names:
        wait_for(lambda name=name: state(lamina, name) == "exited", timeout=30)  # type: ignore[misc]
        assert inspect(lamina, name, "{{.State.ExitCode}}") == "0"


def test_update_restart_policy_of_a_running_container(lamina: Run, image: Image) -> None:
    image()
    script = "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo ended; exit 3"
    assert lamina("run", "-d", "--name", "upd", "busybox", "sh", "-c", script).code == 0
    assert lamina("update", "--restart", "on-failure:1", "upd").code == 0
    assert lamina("exec", "upd", "touch", "/tmp/go").code == 0
    wait_for(lambda: state(lamina, "upd") == "exited", timeout=20)
    assert inspect(lamina, "upd", "{{.RestartCount}} {{.State.ExitCode}}") == "1 3"
    assert lamina("logs", "upd").out == "ended\nended\n"


def test_logs_follow_across_rotations(lamina: Run, image: Image) -> None:
    """logs -f reads each rotated file to its end before the next: nothing lost, in order."""
    image()
    script = ("i=0; while [ $i -lt 150 ]; do echo line-$i; i=$((i+1)); "
              "[ $((i % 10)) = 0 ] && sleep 0.1; done; true")
    # (files enough that a follower slowed down by a busy machine still finds the ones it
    # has not read: with fewer, the oldest go before anyone reads them, as with docker's)
    assert lamina("run", "-d", "--name", "chatty", "--log-opt", "max-size=1k", "--log-opt",
                  "max-file=20", "busybox", "sh", "-c", script).code == 0
    lines = lamina("logs", "-f", "chatty").out.splitlines()
    assert lines[-1] == "line-149"
    first = int(lines[0].removeprefix("line-"))
    assert lines == [f"line-{i}" for i in range(first, 150)]
