"""``lamina events``: the verbs record docker's events in the store, and ``events`` reads them
back with ``--since``/``--until``/``--filter``/``--format``, or follows new ones."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lamina.engine import Engine, Settings
from lamina.engine.events import Actor, Event, EventFilter, parse_timestamp, stream
from lamina.errors import InvalidArgument
from lamina.store import Store

from .conftest import Image, Run


class _Past(tuple[str, ...]):
    """``--since 1h --until <now, to the nanosecond>``: everything recorded, then stop. (A
    duration is whole seconds, as docker's: ``--until 0s`` would miss this second.)"""

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(("--since", "1h", "--until", f"{time.time():.9f}"))


PAST = _Past()
BRIEF = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"


def brief(lamina: Run, *args: str) -> list[str]:
    result = lamina("events", *PAST, "--format", BRIEF, *args)
    assert result.code == 0, result.err
    return result.out.splitlines()


def test_image_verbs_record_events(lamina: Run, load_image) -> None:
    image = load_image(tags=["app:1"], config={"config": {"Labels": {"team": "blue"}}})
    assert lamina("tag", "app:1", "app:2").code == 0
    assert lamina("rmi", "app:1", "app:2").code == 0
    assert brief(lamina) == [
        "image load app:1",
        "image tag app:2",
        "image untag " + image.config_digest,
        "image untag " + image.config_digest,
        "image delete " + image.config_digest,
    ]
    # docker's default line: time, type, action, actor ID, sorted attributes.
    lines = lamina("events", *PAST).out.splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) image tag "
        + image.config_digest + r" \(name=app:2, team=blue\)", lines[1]), lines[1]


def test_json_is_the_api_message(lamina: Run, load_image) -> None:
    image = load_image(tags=["app:1"])
    before = time.time_ns()
    assert lamina("tag", "app:1", "other:7").code == 0
    out = lamina("events", *PAST, "--filter", "event=tag", "--format", "json").out
    line = out.splitlines()[0]
    assert list(json.loads(line)) == ["status", "id", "Type", "Action", "Actor", "scope",
                                      "time", "timeNano"]
    message = json.loads(line)
    assert message["Actor"] == {"ID": image.config_digest, "Attributes": {"name": "other:7"}}
    assert (message["status"], message["Type"], message["scope"]) == ("tag", "image", "local")
    assert before <= message["timeNano"] <= time.time_ns()
    assert message["time"] == message["timeNano"] // 10**9
    same = lamina("events", *PAST, "--filter", "event=tag", "--format", "{{json .}}").out
    assert same == out


@pytest.mark.parametrize(("filters", "expected"), [
    (["type=image"], ["image load a:1", "image load b:1", "image tag c:1"]),
    (["type=container"], []),
    (["event=tag"], ["image tag c:1"]),
    (["event=load", "event=tag"], ["image load a:1", "image load b:1", "image tag c:1"]),
    (["image=a:1"], ["image load a:1"]),
    (["image=b"], ["image load b:1"]),  # docker matches the name without its tag too
    (["label=tier=back"], ["image load b:1"]),
    (["label=tier"], ["image load a:1", "image load b:1", "image tag c:1"]),  # a's labels
    (["type=image", "event=load", "label=tier=front"], ["image load a:1"]),
])
def test_filters(lamina: Run, load_image, filters: list[str], expected: list[str]) -> None:
    load_image([{"a": b"a"}], tags=["a:1"], config={"config": {"Labels": {"tier": "front"}}})
    load_image([{"b": b"b"}], tags=["b:1"], config={"config": {"Labels": {"tier": "back"}}})
    assert lamina("tag", "a:1", "c:1").code == 0
    args = [a for f in filters for a in ("--filter", f)]
    assert brief(lamina, *args) == expected


def test_since_and_until_bound_the_past(lamina: Run, load_image, store_root: Path) -> None:
    load_image(tags=["x:1"])
    with Store(store_root) as store:  # two events of known times
        store.events.append("image", "tag", Actor("sha256:aa", {"name": "early"}),
                            time_nano=1_000_000_000_000_000_000)
        store.events.append("image", "tag", Actor("sha256:bb", {"name": "late"}),
                            time_nano=1_000_000_100_000_000_000)
    window = ("--format", "{{.Actor.Attributes.name}}")
    assert lamina("events", "--since", "1000000000", "--until", "1000000050",
                  *window).out == "early\n"
    assert lamina("events", "--since", "2001-09-09T01:46:40Z", "--until",
                  "2001-09-09T01:48:20Z", *window).out == "early\nlate\n"
    assert lamina("events", "--since", "1000000000.5", "--until", "1000000100",
                  *window).out == "late\n"
    assert lamina("events", "--until", "1000000050", *window).out == "early\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "yesterday"], 'failed to parse value as time or duration: "yesterday"'),
    (["--since", "2h", "--until", "3h"], "cannot be after `until` time"),
    (["--filter", "type"], "bad format of filter (expected name=value): type"),
    (["--format", "{{.Type"], "template"),
])
def test_bad_arguments(lamina: Run, args: list[str], message: str) -> None:
    result = lamina("events", *args)
    assert result.code != 0 and result.out == ""
    assert message in result.err and result.err.count("\n") == 1


def test_timestamps_as_docker_reads_them() -> None:
    now = 1_700_000_000.5
    assert parse_timestamp("10m", now) == 1_700_000_000 - 600
    assert parse_timestamp("1h30m", now) == 1_700_000_000 - 5400
    assert parse_timestamp("0", now) == 0
    assert parse_timestamp("1700000000", now) == 1_700_000_000
    assert parse_timestamp("1700000000.25", now) == 1_700_000_000.25
    assert parse_timestamp("2023-11-14T22:13:20Z", now) == 1_700_000_000
    assert parse_timestamp("2023-11-14T23:13:20+01:00", now) == 1_700_000_000
    with pytest.raises(InvalidArgument):
        parse_timestamp("2023-13-45", now)
    with pytest.raises(InvalidArgument):
        parse_timestamp("soon", now)


def event(type_: str, action: str, actor_id: str, **attributes: str) -> Event:
    return Event(type_, action, Actor(actor_id, attributes), 1)


def test_filter_rules_match_dockers() -> None:
    container = event("container", "start", "abcdef0123", image="busybox:1", name="web")
    image = event("image", "tag", "sha256:1234", name="registry:5000/app:2")
    exec_ = event("container", "exec_start: sh -c true", "abcdef0123", name="web")

    def match(*args: str) -> list[bool]:
        f = EventFilter.parse(args)
        return [f.matches(e) for e in (container, image, exec_)]

    assert match() == [True, True, True]
    assert match("container=abc") == [True, False, True]  # an ID prefix
    assert match("container=web") == [True, False, True]  # a name
    assert match("container=we") == [True, False, True]  # docker's fuzzy match: a prefix
    assert match("container=zzz") == [False, False, False]
    assert match("image=busybox") == [True, False, False]
    assert match("image=registry:5000/app") == [False, True, False]
    assert match("image=sha256:1234") == [False, True, False]
    assert match("event=exec_start") == [False, False, True]
    assert match("event=start", "event=tag") == [True, True, False]
    assert match("type=image", "type=container") == [True, True, True]
    assert match("label=name=web") == [True, False, True]
    assert match("daemon=x") == [False, False, False]


def test_stream_follows_until_until(tmp_path: Path) -> None:
    """Following: events recorded after the call are given, until ``until``."""
    now = [1000.0]
    with Store(tmp_path / "store") as store:
        store.events.append("image", "tag", Actor("old", {}), time_nano=999 * 10**9)
        appended: list[str] = []

        def sleep(_: float) -> None:  # each wait: the clock moves and a new event comes
            now[0] += 1
            actor = f"new{len(appended)}"
            appended.append(actor)
            store.events.append("image", "tag", Actor(actor, {}), time_nano=int(now[0] * 1e9))

        got = [e.actor.id for e in stream(store, until=1003.0, sleep=sleep,
                                          clock=lambda: now[0])]
    assert got == ["old", "new0", "new1", "new2"]


def test_events_follow_new_ones(lamina: Run, load_image, store_root: Path) -> None:
    load_image(tags=["app:1"])
    env = {**os.environ, "LAMINA_ROOT": str(store_root)}
    proc = subprocess.Popen([sys.executable, "-m", "lamina", "events", "--filter", "event=tag",
                             "--format", "{{.Actor.Attributes.name}}"],
                            stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        # It prints nothing of the past: tag until it has seen one, then tag once more.
        seen: list[str] = []
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        n = 0
        while "app:marker" not in seen and time.monotonic() < deadline:
            n += 1
            assert lamina("tag", "app:1", f"app:{n + 1}").code == 0
            if selector.select(timeout=0.5):
                seen.append(proc.stdout.readline().decode().strip())
                if len(seen) == 1:
                    assert lamina("tag", "app:1", "app:marker").code == 0
        assert "app:marker" in seen
        assert all(name.startswith("app:") and name != "app:1" for name in seen)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_container_lifecycle_events(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "--name", "one", "-l", "team=red", "busybox", "sh", "-c",
                  "exit 3").code == 3
    assert lamina("rename", "one", "two").code == 0
    assert lamina("rm", "two").code == 0
    assert lamina("run", "--rm", "--name", "gone", "busybox", "true").code == 0
    fmt = "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"
    out = lamina("events", *PAST, "--filter", "type=container", "--format", fmt).out
    assert out.splitlines() == [
        "create one <no value>", "start one <no value>", "die one 3",
        "rename two <no value>", "destroy two <no value>",
        "create gone <no value>", "start gone <no value>", "die gone 0",
        "destroy gone <no value>",
    ]
    labelled = lamina("events", *PAST, "--filter", "label=team=red", "--filter", "event=die",
                      "--format", "{{.ID}} {{.From}} {{.Actor.Attributes.image}}").out.split()
    assert len(labelled) == 3 and labelled[1:] == ["busybox", "busybox"]


def test_engine_api_shape(tmp_path: Path) -> None:
    """What the Engine API serves: Engine.events with docker's JSON per event."""
    engine = Engine(Settings(root=tmp_path / "store"))
    try:
        engine.store.events.append("container", "start",
                                   Actor("c" * 64, {"name": "x", "image": "busybox"}),
                                   time_nano=5 * 10**9)
        got = [e.to_docker() for e in engine.events(since=0, until=10, follow=False)]
    finally:
        engine.close()
    assert got == [{"status": "start", "id": "c" * 64, "from": "busybox", "Type": "container",
                    "Action": "start",
                    "Actor": {"ID": "c" * 64, "Attributes": {"image": "busybox", "name": "x"}},
                    "scope": "local", "time": 5, "timeNano": 5 * 10**9}]
