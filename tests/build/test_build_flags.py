"""build's --add-host, --ulimit, --shm-size (for RUN steps), --platform, --cache-from and the
accepted --rm/--force-rm, with real RUN steps (root and runc/crun)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from buildhelp import build_ok as build
from buildhelp import runc_available, steps

from cli.conftest import Run

pytestmark = [
    pytest.mark.root,
    pytest.mark.peer,
    pytest.mark.skipif(not runc_available(), reason="needs root and runc or crun"),
]

SHM_SIZE = 'while read a b c d e; do [ "$b" = /dev/shm ] && echo "$d"; done < /proc/mounts; true'


def test_run_steps_get_hosts_ulimits_and_shm(lamina: Run, ctx: Path, busybox: str,
                                             read_files: Callable[[str], dict[str, bytes]]
                                             ) -> None:
    dockerfile = (f"FROM {busybox}\n"
                  f"RUN cat /etc/hosts > /hosts; ulimit -n > /nofile; ( {SHM_SIZE} ) > /shm\n")
    build(lamina, ctx, dockerfile, "-t", "limited", "--add-host", "db.example:10.1.2.3",
          "--add-host", "v6.example:[::1]", "--ulimit", "nofile=321:654", "--shm-size", "1m",
          "--rm", "--force-rm=true")
    files = read_files("limited")
    assert files["hosts"].endswith(b"10.1.2.3\tdb.example\n::1\tv6.example\n")
    assert files["nofile"] == b"321\n"
    assert b"size=1024k" in files["shm"]
    # an image with no hosts file gets one for the step, and keeps none
    out = build(lamina, ctx, f"FROM {busybox}\nRUN cat /etc/hosts > /hosts\n", "-t", "nohosts",
                "--add-host", "db.example:10.1.2.3", "--network", "none")
    files = read_files("nohosts")
    assert files["hosts"].startswith(b"127.0.0.1\tlocalhost\n")
    assert files["hosts"].endswith(b"10.1.2.3\tdb.example\n")
    assert "etc/hosts" not in files
    # the same steps without those flags are not taken from the cache
    out = build(lamina, ctx, dockerfile, "-t", "plain")
    assert not any(s.startswith("CACHED") and "RUN cat" in s for s in steps(out))
    assert b"db.example" not in read_files("plain")["hosts"]


def test_bad_build_flags(lamina: Run, ctx: Path, busybox: str) -> None:
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\n")
    for flags, message in {
        ("--add-host", "nocolon"): "bad format for add-host",
        ("--add-host", "h:not-an-ip"): "invalid IP address in add-host",
        ("--ulimit", "nofile=x"): 'strconv.ParseInt: parsing "x": invalid syntax',
        ("--platform", "linux/a/b/c"): "invalid platform",
    }.items():
        result = lamina("build", *flags, str(ctx))
        assert result.code != 0
        assert message in result.err, (flags, result.err)


def test_platform_of_the_stages(lamina: Run, ctx: Path, busybox: str) -> None:
    import json

    from lamina.model.platform import Platform

    host = Platform.host()
    build(lamina, ctx, "FROM scratch\nCOPY Dockerfile /\n", "-t", "scratchy", "--platform",
          "linux/arm64")
    arch = json.loads(lamina("inspect", "-f", "{{json .}}", "scratchy").out)["Architecture"]
    assert arch == "arm64"
    # a base image of another platform than the one asked for is pulled (here: fails, as no
    # registry has it), not taken from the store
    other = "arm64" if host.architecture != "arm64" else "amd64"
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\n")
    result = lamina("build", "--platform", f"linux/{other}", str(ctx))
    assert result.code != 0
    assert f"pulling {busybox}" in result.out


def test_cache_from_an_image(lamina: Run, ctx: Path, busybox: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             read_files: Callable[[str], dict[str, bytes]]) -> None:
    dockerfile = (f"FROM {busybox}\n"
                  "RUN cat /proc/sys/kernel/random/uuid > /made\n"
                  "ENV STEP=2\n"
                  "RUN cat /proc/sys/kernel/random/uuid > /made2\n")
    build(lamina, ctx, dockerfile, "-t", "cached:1")
    made = read_files("cached:1")
    archive = tmp_path / "both.tar"
    assert lamina("save", "-o", str(archive), busybox, "cached:1").code == 0
    # Another store, with no build cache: the image is loaded, and its steps are reused.
    monkeypatch.setenv("LAMINA_ROOT", str(tmp_path / "other-store"))
    assert lamina("load", "-i", str(archive)).code == 0
    out = build(lamina, ctx, dockerfile, "-t", "again", "--cache-from", "cached:1")
    assert [s.startswith("CACHED") for s in steps(out) if "RUN" in s] == [True, True]
    again = read_files("again")
    assert (again["made"], again["made2"]) == (made["made"], made["made2"])
    # a changed step and the ones after it run again
    changed = dockerfile.replace("ENV STEP=2", "ENV STEP=3")
    out = build(lamina, ctx, changed, "-t", "changed", "--cache-from", "cached:1")
    assert [s.startswith("CACHED") for s in steps(out) if "RUN" in s] == [True, False]
    assert read_files("changed")["made2"] != made["made2"]
    # no cache source, or --no-cache: everything runs
    out = build(lamina, ctx, dockerfile, "--no-cache", "--cache-from", "cached:1")
    assert not any(s.startswith("CACHED") for s in steps(out))
    assert lamina("build", "--cache-from", "nosuch:image", str(ctx)).code == 0
