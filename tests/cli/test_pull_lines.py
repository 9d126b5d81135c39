"""The lines a pull prints, as docker's: run's pull of a missing image, and a pull that fails
at once (no "Pulling from" first)."""

from __future__ import annotations

import re
import socket

from registry.servers import Server

from .conftest import Image, Run


def test_run_pulls_with_dockers_lines(lamina: Run, image: Image,
                                      lamina_registry: Server) -> None:
    image()
    name = f"{lamina_registry.host}/lines/box:1"
    assert lamina("tag", "busybox", name).code == 0
    assert lamina("push", "-q", name).code == 0
    assert lamina("rmi", name).code == 0
    result = lamina("run", "--rm", name, "echo", "ran")
    assert result.code == 0, result.err
    assert result.out == "ran\n"
    lines = result.err.splitlines()
    assert lines[0] == f"Unable to find image '{name}' locally"
    assert lines[1] == "1: Pulling from lines/box"
    layer_lines = lines[2:-2]
    assert layer_lines and all(re.fullmatch(r"[0-9a-f]{12}: (Pulling fs layer|Waiting|"
                                            r"Verifying Checksum|Download complete|"
                                            r"Pull complete|Already exists)", line)
                               for line in layer_lines), layer_lines
    # (busybox:latest still holds the layer: docker's "Already exists".)
    assert layer_lines[-1].endswith(": Already exists")
    assert re.fullmatch(r"Digest: sha256:[0-9a-f]{64}", lines[-2])
    assert lines[-1] == f"Status: Downloaded newer image for {name}"


def test_pull_that_fails_at_once_prints_no_pulling_line(lamina: Run) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = lamina("pull", f"127.0.0.1:{port}/nothing/here")
    assert result.code == 1
    assert result.out == "Using default tag: latest\n"
    assert "Pulling from" not in result.err and result.err.count("\n") == 1


def test_uppercase_is_refused_before_any_lookup(lamina: Run) -> None:
    result = lamina("pull", "UPPER/case")
    assert result.code == 1
    assert result.err == "Error: invalid reference format: repository name must be lowercase\n"
