"""Volumes: ``volume create|ls|inspect|rm|prune``, ``-v NAME:/path`` with the image's content
copied into a new volume, anonymous volumes from ``VOLUME`` (``rm -v``, ``run --rm``), system df,
and bad input that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.conftest import Image, Run, one_line


def test_volume_verbs(lamina: Run, store_root: Path) -> None:
    assert lamina("volume", "create", "data").out == "data\n"
    made = lamina("volume", "create", "--label", "team=a", "-o", "type=none", "-o",
                  "o=bind", "-o", f"device={store_root}", "bound")
    assert made.code == 0, made.err
    listed = lamina("volume", "ls")
    assert listed.out.splitlines() == ["DRIVER    VOLUME NAME", "local     bound", "local     data"]
    assert lamina("volume", "ls", "-q", "--filter", "label=team=a").out == "bound\n"
    assert lamina("volume", "ls", "--filter", "name=dat", "--format", "{{.Name}}").out == "data\n"
    (obj,) = json.loads(lamina("volume", "inspect", "data").out)
    assert obj["Mountpoint"] == str(store_root / "volumes" / "data" / "_data")
    assert obj["Driver"] == "local" and obj["Scope"] == "local" and obj["Labels"] == {}
    (bound,) = json.loads(lamina("volume", "inspect", "bound").out)
    assert bound["Mountpoint"] == str(store_root) and bound["Labels"] == {"team": "a"}
    assert bound["Options"] == {"type": "none", "o": "bind", "device": str(store_root)}
    assert lamina("volume", "inspect", "-f", "{{.Name}}", "data").out == "data\n"
    assert lamina("volume", "rm", "data", "bound").out == "data\nbound\n"
    assert lamina("volume", "ls", "-q").out == ""
    assert store_root.is_dir()  # a bind volume's device is not its to remove


def test_volume_bad_input_changes_nothing(lamina: Run, store_root: Path) -> None:
    lamina("volume", "create", "keep")
    before = sorted(p.name for p in (store_root / "volumes").iterdir())
    for name in ("a/b", "..", "../x", "_x", "a"):
        result = lamina("volume", "create", name)
        assert result.code != 0
        assert "includes invalid characters for a local volume name" in one_line(result)
    bad = lamina("volume", "create", "-o", "bogus=1", "v2")
    assert bad.code == 1 and "invalid option key" in one_line(bad)
    bad = lamina("volume", "create", "-d", "nfs", "v3")
    assert bad.code == 1 and 'plugin "nfs" not found' in one_line(bad)
    gone = lamina("volume", "rm", "nothere")
    assert gone.code == 1 and one_line(gone) == "Error: get nothere: no such volume"
    assert lamina("volume", "rm", "-f", "nothere").code == 0
    missing = lamina("volume", "inspect", "nothere")
    assert missing.code == 1 and one_line(missing) == "Error: get nothere: no such volume"
    assert sorted(p.name for p in (store_root / "volumes").iterdir()) == before


def test_named_volume_copy_up_and_persistence(lamina: Run, image: Image,
                                              store_root: Path) -> None:
    image("app", extra={"srv/seed": b"from the image\n"})
    first = lamina("run", "--rm", "--network", "host", "-v", "appdata:/srv", "app",
                   "sh", "-c", "cat /srv/seed; echo more > /srv/added")
    assert first.code == 0, first.err
    assert first.out == "from the image\n"
    data = store_root / "volumes" / "appdata" / "_data"
    assert (data / "seed").read_text() == "from the image\n"
    # not empty any more: nothing is copied over what the volume holds
    (data / "seed").write_text("changed\n")
    again = lamina("run", "--rm", "--network", "host", "-v", "appdata:/srv:ro", "app",
                   "sh", "-c", "cat /srv/seed /srv/added; touch /srv/x")
    assert again.out == "changed\nmore\n"
    assert "Read-only file system" in again.err and again.code == 1
    # in use: docker's conflict, and the volume stays
    assert lamina("create", "--name", "holder", "-v", "appdata:/srv", "app", "true").code == 0
    held = lamina("volume", "rm", "appdata")
    assert held.code == 1
    cid = lamina("inspect", "-f", "{{.Id}}", "holder").out.strip()
    assert one_line(held) == f"Error: remove appdata: volume is in use - [{cid}]"
    assert data.is_dir()
    mounts = json.loads(lamina("inspect", "-f", "{{json .Mounts}}", "holder").out)
    assert [(m["Type"], m["Name"], m["Destination"], m["RW"]) for m in mounts] == \
        [("volume", "appdata", "/srv", True)]
    assert lamina("rm", "holder").code == 0
    assert lamina("volume", "rm", "appdata").code == 0
    assert not data.exists()


def test_anonymous_volumes(lamina: Run, image: Image, store_root: Path) -> None:
    image("vol", "VOLUME /data", extra={"data/in-image": b"x\n"})
    out = lamina("run", "--name", "keeper", "--network", "host", "vol", "ls", "/data")
    assert out.code == 0 and out.out == "in-image\n", out.err
    (name,) = lamina("volume", "ls", "-q").out.split()
    (obj,) = json.loads(lamina("volume", "inspect", name).out)
    assert obj["Labels"] == {"com.docker.volume.anonymous": ""}
    df = lamina("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}").out
    assert "Local Volumes 1 1" in df
    # removed with the container only when asked (-v)
    assert lamina("rm", "-v", "keeper").code == 0
    assert lamina("volume", "ls", "-q").out == ""
    # run --rm takes them along; a named volume stays
    ran = lamina("run", "--rm", "--network", "host", "-v", "named:/other", "vol", "true")
    assert ran.code == 0, ran.err
    assert lamina("volume", "ls", "-q").out == "named\n"
    # an anonymous volume left by a plain rm is pruned; named ones only with -a
    lamina("run", "--name", "again", "--network", "host", "vol", "true")
    lamina("rm", "again")
    assert len(lamina("volume", "ls", "-q").out.split()) == 2
    pruned = lamina("volume", "prune", "-f")
    assert pruned.out.startswith("Deleted Volumes:\n") and "named" not in pruned.out
    assert lamina("volume", "ls", "-q").out == "named\n"
    assert lamina("volume", "prune", "-af").out.startswith("Deleted Volumes:\nnamed\n")


def test_bad_volume_specs(lamina: Run, image: Image) -> None:
    image("app")
    for spec, words in (("a/b:/data", "includes invalid characters"),
                        ("x..y/z:/data", "includes invalid characters"),
                        ("data:relative", "mount path must be absolute"),
                        ("data:/", "destination can't be '/'"),
                        ("data:/d:bogus", "invalid mode: bogus")):
        # (docker's engine refuses these: create exits 1, run 125)
        result = lamina("create", "-v", spec, "app", "true")
        assert result.code == 1, (spec, result.err)
        assert words in one_line(result), spec
        result = lamina("run", "--rm", "-v", spec, "app", "true")
        assert result.code == 125, (spec, result.err)
        assert words in one_line(result), spec
    assert lamina("ps", "-aq").out == ""
    assert lamina("volume", "ls", "-q").out == ""


def test_relative_source_is_a_host_directory(lamina: Run, image: Image, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """-v ./d:/d and ../d: a directory relative to where the command runs, as docker's CLI
    reads them (not a volume's name)."""
    image("app")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert lamina("create", "--name", "rel", "-v", "./here:/h", "-v", "../up:/u:ro", "app",
                  "true").code == 0
    binds = lamina("inspect", "-f", "{{json .HostConfig.Binds}}", "rel").out
    assert binds == f'["{work}/here:/h","{tmp_path}/up:/u:ro"]\n'
    assert lamina("volume", "ls", "-q").out == ""


def test_system_prune_volumes(lamina: Run, image: Image) -> None:
    image("vol", "VOLUME /data")
    assert lamina("run", "--name", "gone", "--network", "host", "vol", "true").code == 0
    assert lamina("rm", "gone").code == 0
    lamina("volume", "create", "named")
    anonymous = [n for n in lamina("volume", "ls", "-q").out.split() if n != "named"]
    assert len(anonymous) == 1
    kept = lamina("system", "prune", "-f")
    assert "Deleted Volumes" not in kept.out
    pruned = lamina("system", "prune", "-f", "--volumes")
    assert f"Deleted Volumes:\n{anonymous[0]}\n" in pruned.out, pruned.out
    assert lamina("volume", "ls", "-q").out == "named\n"


def test_mount_type_volume_and_volumes_from(lamina: Run, image: Image,
                                            store_root: Path) -> None:
    image("app", extra={"srv/seed": b"seeded\n"})
    made = lamina("run", "--name", "writer", "--network", "host", "--mount",
                  "type=volume,source=shared,target=/srv", "--mount", "type=volume,target=/anon",
                  "app", "sh", "-c", "cat /srv/seed; echo from-writer > /srv/note")
    assert made.code == 0 and made.out == "seeded\n", made.err
    nocopy = lamina("run", "--rm", "--network", "host", "--mount",
                    "type=volume,source=empty,target=/srv,volume-nocopy", "app", "ls", "/srv")
    assert nocopy.code == 0 and nocopy.out == ""
    # --volumes-from: the other's named and anonymous volumes, read-only with :ro
    read = lamina("run", "--rm", "--network", "host", "--volumes-from", "writer:ro", "app",
                  "sh", "-c", "cat /srv/note; ls -d /anon; touch /srv/x")
    assert read.out == "from-writer\n/anon\n" and "Read-only file system" in read.err
    names = lamina("volume", "ls", "-q").out.split()
    assert "shared" in names and "empty" in names and len(names) == 3  # one anonymous
    assert lamina("rm", "-v", "writer").code == 0
    assert sorted(lamina("volume", "ls", "-q").out.split()) == ["empty", "shared"]


def test_tmpfs_and_bind_volumes_in_a_container(lamina: Run, image: Image, store_root: Path,
                                               tmp_path: Path) -> None:
    image("app", extra={"srv/seed": b"seeded\n"})
    made = lamina("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o",
                  "o=size=1m,mode=0700", "scratch")
    assert made.code == 0, made.err
    # each container gets a tmpfs of the volume's options; nothing is kept on disk
    out = lamina("run", "--rm", "--network", "host", "-v", "scratch:/scratch", "app", "sh",
                 "-c", "grep ' /scratch ' /proc/mounts; stat -c %a /scratch; echo x > "
                 "/scratch/f")
    assert out.code == 0, out.err
    mount, mode = out.out.splitlines()
    assert mount.startswith("tmpfs /scratch tmpfs rw") and "size=1024k" in mount
    assert mode == "700"
    assert not any((store_root / "volumes" / "scratch" / "_data").iterdir())
    again = lamina("run", "--rm", "--network", "host", "-v", "scratch:/scratch:ro", "app",
                   "sh", "-c", "ls /scratch; grep ' /scratch ' /proc/mounts")
    assert again.code == 0 and again.out.startswith("tmpfs /scratch tmpfs ro"), again.out
    # a bind volume: the container writes into the device directory (no copy-up over it)
    device = tmp_path / "device"
    device.mkdir()
    (device / "kept").write_text("host\n")
    assert lamina("volume", "create", "-o", "type=none", "-o", "o=bind", "-o",
                  f"device={device}", "bound").code == 0
    wrote = lamina("run", "--rm", "--network", "host", "-v", "bound:/srv", "app", "sh", "-c",
                   "cat /srv/kept; ls /srv; echo from-container > /srv/new")
    assert wrote.code == 0 and wrote.out == "host\nkept\n", (wrote.out, wrote.err)
    assert (device / "new").read_text() == "from-container\n"
    assert lamina("volume", "rm", "scratch", "bound").code == 0
    assert sorted(p.name for p in device.iterdir()) == ["kept", "new"]
