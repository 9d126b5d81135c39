"""Reading a container's cgroup files, v1 (one hierarchy per controller) and v2 (one tree),
from a fake /sys/fs/cgroup."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.runtime import cgroups

MiB = 1024 * 1024


def files(root: Path, contents: dict[str, str]) -> None:
    for name, text in contents.items():
        path = root / name.replace("<cg>", "lamina/c1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    files(tmp_path, {
        "cpuacct/<cg>/cpuacct.usage": "1500000000\n",
        "memory/<cg>/memory.usage_in_bytes": f"{10 * MiB}\n",
        "memory/<cg>/memory.stat": f"cache 5\ntotal_inactive_file {4 * MiB}\n",
        "memory/<cg>/memory.limit_in_bytes": "9223372036854771712\n",  # no limit
        "pids/<cg>/pids.current": "3\n",
        "blkio/<cg>/blkio.throttle.io_service_bytes_recursive":
            "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 4608\n8:0 Total 4608\n"
            "8:16 Read 100\n8:16 Write 0\nTotal 4708\n",
        "freezer/<cg>/freezer.state": "FROZEN\n",
    })
    assert cgroups.usage("c1") == cgroups.Usage(1_500_000_000, 6 * MiB, cgroups.host_memory(),
                                                3, 4196, 512)
    assert cgroups.frozen("c1")
    (tmp_path / "freezer/lamina/c1/freezer.state").write_text("THAWED\n")
    assert not cgroups.frozen("c1")


def test_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    files(tmp_path, {
        "<cg>/cpu.stat": "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        "<cg>/memory.current": f"{8 * MiB}\n",
        "<cg>/memory.stat": f"anon 1\ninactive_file {MiB}\n",
        "<cg>/memory.max": f"{64 * MiB}\n",
        "<cg>/pids.current": "1\n",
        "<cg>/io.stat": "8:0 rbytes=7 wbytes=3 rios=1 wios=1\n253:0 rbytes=1 wbytes=1\n",
        "<cg>/cgroup.freeze": "1\n",
    })
    assert cgroups.usage("c1") == cgroups.Usage(2_500_000, 7 * MiB, 64 * MiB, 1, 8, 4)
    assert cgroups.frozen("c1")


def test_a_cgroup_that_is_not_there_uses_nothing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    assert cgroups.usage("gone") == cgroups.Usage(0, 0, cgroups.host_memory(), 0, 0, 0)
    assert not cgroups.frozen("gone")
