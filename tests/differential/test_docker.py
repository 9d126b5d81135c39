"""The differential table against docker itself, where a dockerd can start here (Debian's
docker.io, on a data root of its own): every row where docker does not give what the table
says is reported, so the table stays docker's truth. Where no dockerd can start, the test is
skipped and says why; lamina's half (test_lamina.py) runs either way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Docker, Dockerd, differences
from .table import CASES


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    why = Dockerd.unavailable()
    if why:
        pytest.skip(f"no docker engine to compare with: {why}")
    daemon = Dockerd()
    try:
        try:
            daemon.start()
        except (RuntimeError, OSError) as exc:
            pytest.skip(f"no docker engine to compare with: dockerd would not start: {exc}")
        yield daemon
    finally:
        daemon.stop()


@pytest.mark.peer
@pytest.mark.slow
def test_docker_gives_the_table(dockerd: Dockerd, tmp_path: Path) -> None:
    report = []
    for case in CASES:
        if case.peer:
            continue
        work = tmp_path / case.id
        work.mkdir()
        tool = Docker(work, dockerd)
        tool.reset()
        try:
            found = differences(case, tool.play(case), work)
        except AssertionError as exc:
            found = [str(exc)]
        if found:
            report.append(f"{case.id}: docker {' '.join(case.argv)}: " + "; ".join(found))
    tool.reset()
    version = client_version(dockerd)
    if report and version < TABLE_CLIENT:
        # Another CLI words some messages otherwise (Debian 12's docker.io is 20.10): say
        # where, without failing on the table docker 28 gave.
        pytest.skip(f"docker CLI {'.'.join(map(str, version))} is older than the table's "
                    f"(28); it differs on:\n" + "\n".join(report))
    assert not report, "docker differs from the table:\n" + "\n".join(report)


TABLE_CLIENT = (28,)  # the docker CLI the table was taken from


def client_version(dockerd: Dockerd) -> tuple[int, ...]:
    import os
    import subprocess

    out = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}"],
                         env={**os.environ, **dockerd.env()}, capture_output=True, text=True,
                         check=False).stdout.strip()
    try:
        return tuple(int(part) for part in out.split(".")[:2])
    except ValueError:
        return (0,)
