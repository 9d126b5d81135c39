"""The container verbs as a library (``lamina.Engine``), without the CLI."""

from __future__ import annotations

import io
import os

import pytest

from lamina.engine import Engine
from lamina.engine.containers import CreateOptions
from lamina.engine.lifecycle import attach_hooks
from lamina.errors import ContainerError, NotFound

pytestmark = pytest.mark.root


def test_create_start_wait_logs_remove(engine: Engine, busybox: str) -> None:
    record = engine.create_container("busybox", ["sh", "-c", "echo one; echo two >&2; exit 3"],
                                     CreateOptions(name="lib", network="none"))
    assert engine.container("lib").state == "created"
    running = engine.start("lib")
    assert running.started is not None and running.started.pid > 0
    assert engine.wait("lib") == 3
    assert engine.container(record.id).state == "exited"
    # Two pipes: which of stdout and stderr reaches the log first is a race, as with docker.
    assert sorted((e.stream, e.text) for e in engine.logs("lib")) == [("stderr", "two\n"),
                                                                     ("stdout", "one\n")]
    engine.remove_container("lib")
    with pytest.raises(NotFound):
        engine.container("lib")
    assert os.listdir(engine.store.containers_dir) == []


def test_attached_run_streams_and_records(engine: Engine, busybox: str) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    running = engine.run("busybox", ["sh", "-c", "echo to-out; echo to-err >&2; exit 4"],
                         CreateOptions(autoremove=True), attach=attach_hooks())
    assert engine.attach(running, out, err) == 4
    assert (out.getvalue(), err.getvalue()) == (b"to-out\n", b"to-err\n")
    assert engine.store.containers.all() == []


def test_start_failure_is_recorded(engine: Engine, busybox: str) -> None:
    engine.create_container("busybox", ["/nope"], CreateOptions(name="broken"))
    with pytest.raises(ContainerError) as caught:
        engine.start("broken")
    assert caught.value.exit_code == 127
    record = engine.container("broken")
    assert (record.state, record.exit_code) == ("created", 127)
    assert "no such file or directory" in record.error
