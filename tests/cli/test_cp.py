"""lamina cp (docker cp) on real containers, as root with runc: docker's destination rules both
ways, ownership, symlinks, tar streams on stdin and stdout, and hostile images and archives."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from cli.conftest import Image, Run, mounts_under, one_line, wait_for
from lamina.cli.main import main

pytestmark = pytest.mark.root

CANARY = b"host canary: never read, never written\n"


def upper(store_root: Path, lamina: Run, name: str) -> Path:
    container_id = lamina("inspect", "--format", "{{.Id}}", name).out.strip()
    return store_root / "containers" / container_id / "upper"


def tree(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every entry below ``root``: (mode, content or link target)."""
    found: dict[str, tuple[int, bytes | str | None]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            value: bytes | str | None = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            value = path.read_bytes()
        else:
            value = None
        found[str(path.relative_to(root))] = (st.st_mode, value)
    return found


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644
           ) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    host.mkdir()
    path = host / "canary"
    path.write_bytes(CANARY)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def untouched(canary: Path) -> bool:
    st = canary.stat()
    return (canary.read_bytes() == CANARY and st.st_mtime == 1_000_000_000
            and sorted(p.name for p in canary.parent.iterdir()) == ["canary"])


# ------------------------------------------------------------------------------ copying out


def test_file_out_follows_docker_rules(lamina: Run, image: Image, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    image(extra={"data/f": b"hello\n"})
    lamina("create", "--name", "c1", "busybox", "true")
    new = tmp_path / "new"
    result = lamina("cp", "c1:/data/f", str(new))
    assert result.code == 0, result.err
    assert new.read_bytes() == b"hello\n" and stat.S_IMODE(new.stat().st_mode) == 0o644
    assert new.stat().st_mtime == 1704067200  # the image's
    # A tar of it weighs 512 (header) + 512 (data) + 1024 (end): docker says 2.05kB.
    assert result.err == f"Successfully copied 2.05kB to {new}\n"
    existing = tmp_path / "existing"
    existing.write_bytes(b"old content, longer than the new one\n")
    assert lamina("cp", "-q", "c1:data/f", str(existing)).err == ""  # relative to /; quiet
    assert existing.read_bytes() == b"hello\n"
    folder = tmp_path / "folder"
    folder.mkdir()
    assert lamina("cp", "c1:/data/f", str(folder)).code == 0
    assert (folder / "f").read_bytes() == b"hello\n"

    result = lamina("cp", "c1:/data/f", str(tmp_path / "missing") + "/")
    assert result.code == 1 and "must exist" in one_line(result)
    result = lamina("cp", "c1:/data/f", str(tmp_path / "no" / "such" / "f"))
    assert result.code == 1
    assert one_line(result) == f"Error: lstat {tmp_path}/no/such: no such file or directory"
    assert not (tmp_path / "missing").exists() and not (tmp_path / "no").exists()
    # A local path with a ':' is written ./a:b
    monkeypatch.chdir(tmp_path)
    assert lamina("cp", "c1:/data/f", "./a:b").code == 0
    assert (tmp_path / "a:b").read_bytes() == b"hello\n"


def test_directory_out_follows_docker_rules(lamina: Run, image: Image, tmp_path: Path) -> None:
    image(extra={"data/f": b"1", "data/sub/g": b"22"}, symlinks={"data/link": "sub/g"})
    lamina("create", "--name", "c1", "busybox", "true")
    expected = {"f": b"1", "link": "sub/g", "sub": None, "sub/g": b"22"}

    def contents(path: Path) -> dict[str, bytes | str | None]:
        return {name: value for name, (_, value) in tree(path).items()}

    assert lamina("cp", "c1:/data", str(tmp_path / "made")).code == 0
    assert contents(tmp_path / "made") == expected
    assert (tmp_path / "made" / "link").is_symlink()
    into = tmp_path / "into"
    into.mkdir()
    assert lamina("cp", "c1:/data/", str(into)).code == 0
    assert contents(into) == {"data": None, **{f"data/{k}": v for k, v in expected.items()}}
    dot = tmp_path / "dot"
    dot.mkdir()
    (dot / "kept").write_bytes(b"k")
    assert lamina("cp", "c1:/data/.", str(dot)).code == 0
    assert contents(dot) == {"kept": b"k", **expected}
    afile = tmp_path / "afile"
    afile.write_bytes(b"x")
    result = lamina("cp", "c1:/data", str(afile))
    assert result.code == 1 and "cannot copy a directory to a file" in one_line(result)
    assert afile.read_bytes() == b"x"
    result = lamina("cp", "c1:/data/f/", str(tmp_path / "z"))
    assert result.code == 1 and "not a directory" in one_line(result)
    # SRC/. to a missing destination: made, with SRC's mode.
    assert lamina("cp", "c1:/data/sub/.", str(tmp_path / "fresh")).code == 0
    assert contents(tmp_path / "fresh") == {"g": b"22"}
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o755


def test_special_files_are_left_out(lamina: Run, image: Image, tmp_path: Path,
                                    store_root: Path) -> None:
    image(extra={"data/f": b"1"})
    lamina("create", "--name", "c1", "busybox", "true")
    up = upper(store_root, lamina, "c1")
    (up / "data").mkdir()
    os.mkfifo(up / "data" / "fifo")
    result = lamina("cp", "c1:/data", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f"]


def test_local_destination_symlink_is_followed(lamina: Run, image: Image, tmp_path: Path
                                               ) -> None:
    image(extra={"data/f": b"new\n"})
    lamina("create", "--name", "c1", "busybox", "true")
    real = tmp_path / "real"
    real.write_bytes(b"old\n")
    (tmp_path / "link").symlink_to(real)
    assert lamina("cp", "c1:/data/f", str(tmp_path / "link")).code == 0
    assert real.read_bytes() == b"new\n" and (tmp_path / "link").is_symlink()


def test_tar_out_on_stdout(lamina: Run, image: Image, capsysbinary: pytest.CaptureFixture[bytes]
                           ) -> None:
    image(extra={"data/f": b"hello\n", "data/sub/g": b"x" * 700}, symlinks={"data/l": "/etc"})
    lamina("create", "--name", "c1", "busybox", "true")
    capsysbinary.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["cp", "c1:/data", "-"])
    assert exit_.value.code == 0
    captured = capsysbinary.readouterr()
    assert captured.err == b""  # no message with a tar on stdout
    with tarfile.open(fileobj=io.BytesIO(captured.out)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["data", "data/f", "data/l", "data/sub", "data/sub/g"]
        assert members["data/l"].issym() and members["data/l"].linkname == "/etc"
        assert members["data"].isdir() and members["data/f"].mode == 0o644
        assert tar.extractfile("data/sub/g").read() == b"x" * 700  # type: ignore[union-attr]
    with pytest.raises(SystemExit):
        main(["cp", "c1:/data/f", "-"])
    with tarfile.open(fileobj=io.BytesIO(capsysbinary.readouterr().out)) as tar:
        assert tar.getnames() == ["f"]


def test_follow_link(lamina: Run, image: Image, tmp_path: Path) -> None:
    image(extra={"data/f": b"target\n"}, symlinks={"data/link": "/data/f"})
    lamina("create", "--name", "c1", "busybox", "true")
    assert lamina("cp", "c1:/data/link", str(tmp_path / "plain")).code == 0
    assert os.readlink(tmp_path / "plain") == "/data/f"
    assert lamina("cp", "-L", "c1:/data/link", str(tmp_path)).code == 0
    followed = tmp_path / "link"
    assert not followed.is_symlink() and followed.read_bytes() == b"target\n"
    # Symlinks in the parents are always followed, inside the container.
    image("other", extra={"data/f": b"through\n"}, symlinks={"alias": "/data"})
    lamina("create", "--name", "c2", "other", "true")
    assert lamina("cp", "c2:/alias/f", str(tmp_path / "through")).code == 0
    assert (tmp_path / "through").read_bytes() == b"through\n"


# ------------------------------------------------------------------------------- copying in


def test_file_and_directory_in(lamina: Run, image: Image, tmp_path: Path, store_root: Path
                               ) -> None:
    image(extra={"data/existing": b"old"})
    lamina("create", "--name", "c1", "busybox", "true")
    up = upper(store_root, lamina, "c1")
    local = tmp_path / "local.sh"
    local.write_bytes(b"#!/bin/sh\n")
    local.chmod(0o751)
    result = lamina("cp", str(local), "c1:/data/new")
    assert result.code == 0, result.err
    assert result.err == "Successfully copied 2.05kB to c1:/data/new\n"
    assert (up / "data/new").read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE((up / "data/new").stat().st_mode) == 0o751
    assert lamina("cp", str(local), "c1:/data/existing").code == 0
    assert (up / "data/existing").read_bytes() == b"#!/bin/sh\n"
    assert lamina("cp", str(local), "c1:/data").code == 0
    assert (up / "data/local.sh").read_bytes() == b"#!/bin/sh\n"
    result = lamina("cp", str(local), "c1:/nodir/")
    assert result.code == 1 and "must exist" in one_line(result)

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(b"a")
    (src / "sub" / "b").write_bytes(b"b")
    (src / "sub" / "hard").hardlink_to(src / "sub" / "b")
    (src / "rel").symlink_to("sub/b")
    assert lamina("cp", str(src), "c1:/made").code == 0
    assert tree(up / "made").keys() == {"a", "rel", "sub", "sub/b", "sub/hard"}
    assert os.readlink(up / "made/rel") == "sub/b"
    assert (up / "made/sub/b").stat().st_ino == (up / "made/sub/hard").stat().st_ino
    assert lamina("cp", str(src), "c1:/data").code == 0
    assert (up / "data/src/sub/b").read_bytes() == b"b"
    assert lamina("cp", str(src) + "/.", "c1:/data").code == 0
    assert (up / "data/a").read_bytes() == b"a" and (up / "data/sub/b").exists()
    result = lamina("cp", str(src), "c1:/data/existing")
    assert result.code == 1 and "cannot copy a directory to a file" in one_line(result)
    (tmp_path / "alias").symlink_to(local)
    assert lamina("cp", str(tmp_path / "alias"), "c1:/data/").code == 0
    assert os.readlink(up / "data/alias") == str(local)
    assert lamina("cp", "-L", str(tmp_path / "alias"), "c1:/data/followed").code == 0
    assert (up / "data/followed").read_bytes() == b"#!/bin/sh\n"
    result = lamina("container", "cp", str(tmp_path / "nope"), "c1:/data")
    assert result.code == 1
    assert one_line(result) == f"Error: lstat {tmp_path}/nope: no such file or directory"


def test_ownership(lamina: Run, image: Image, tmp_path: Path, store_root: Path) -> None:
    image()
    lamina("create", "--name", "c1", "busybox", "true")
    up = upper(store_root, lamina, "c1")
    local = tmp_path / "owned"
    (local / "d").mkdir(parents=True)
    (local / "d" / "f").write_bytes(b"f")
    for path in (local, local / "d", local / "d" / "f"):
        os.chown(path, 1234, 5678)
    assert lamina("cp", str(local), "c1:/root-owned").code == 0
    assert lamina("cp", "-a", str(local), "c1:/kept").code == 0
    for rel in ("", "/d", "/d/f"):
        st = (up / ("root-owned" + rel)).stat()
        assert (st.st_uid, st.st_gid) == (0, 0)
        st = (up / ("kept" + rel)).stat()
        assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert lamina("cp", "c1:/kept", str(tmp_path / "out")).code == 0
    assert lamina("cp", "-a", "c1:/kept", str(tmp_path / "out-a")).code == 0
    st = (tmp_path / "out/d/f").stat()
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    st = (tmp_path / "out-a/d/f").stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_running_and_stopped_containers(lamina: Run, image: Image, tmp_path: Path,
                                        store_root: Path) -> None:
    image()
    lamina("run", "-d", "--name", "live", "busybox", "sh", "-c",
           "echo written > /tmp/w; sleep 60")
    wait_for(lambda: lamina("exec", "live", "cat", "/tmp/w").out == "written\n")
    assert lamina("cp", "live:/tmp/w", str(tmp_path / "w")).code == 0
    assert (tmp_path / "w").read_bytes() == b"written\n"
    local = tmp_path / "note"
    local.write_bytes(b"seen at once\n")
    assert lamina("cp", str(local), "live:/tmp/").code == 0
    assert lamina("exec", "live", "cat", "/tmp/note").out == "seen at once\n"

    lamina("create", "--name", "later", "busybox", "cat", "/tmp/note")
    assert lamina("cp", str(local), "later:/tmp/").code == 0
    container_id = lamina("inspect", "--format", "{{.Id}}", "later").out.strip()
    assert not mounts_under(store_root / "containers" / container_id)
    assert lamina("start", "-a", "later").out == "seen at once\n"
    assert lamina("cp", str(local), "later:/tmp/again").code == 0  # exited now
    assert not mounts_under(store_root / "containers" / container_id)
    assert lamina("cp", "later:/tmp/again", str(tmp_path / "again")).code == 0
    assert (tmp_path / "again").read_bytes() == b"seen at once\n"
    assert lamina("inspect", "--format", "{{.State.Status}}", "later").out == "exited\n"


def test_tar_in_from_stdin(lamina: Run, image: Image, store_root: Path) -> None:
    image(extra={"dst/keep": b"k"})
    lamina("create", "--name", "c1", "busybox", "true")
    up = upper(store_root, lamina, "c1")
    archive = tar_of(
        (member("d", tarfile.DIRTYPE, mode=0o750), None),
        (member("d/f", mode=0o600), b"content"),
        (member("d/l", tarfile.SYMTYPE, "/etc/passwd"), None),
        (member("d/h", tarfile.LNKTYPE, "d/f"), None),
        (member("top"), b"top"),
    )
    result = lamina("cp", "-", "c1:/dst", stdin=archive)
    assert (result.code, result.err) == (0, ""), result.err
    assert (up / "dst/d/f").read_bytes() == b"content"
    assert stat.S_IMODE((up / "dst/d").stat().st_mode) == 0o750
    assert stat.S_IMODE((up / "dst/d/f").stat().st_mode) == 0o600
    assert os.readlink(up / "dst/d/l") == "/etc/passwd"
    assert (up / "dst/d/h").stat().st_ino == (up / "dst/d/f").stat().st_ino
    assert (up / "dst/top").read_bytes() == b"top"
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        info = member("zipped")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"gz!"))
    assert lamina("cp", "-", "c1:/dst", stdin=packed.getvalue()).code == 0
    assert (up / "dst/zipped").read_bytes() == b"gz!"
    result = lamina("cp", "-", "c1:/dst/keep", stdin=archive)
    assert result.code == 1
    assert one_line(result) == 'Error: destination "c1:/dst/keep" must be a directory'


# ---------------------------------------------------------------------------------- hostile


def test_container_symlinks_never_reach_the_host(lamina: Run, image: Image, tmp_path: Path,
                                                 canary: Path, store_root: Path) -> None:
    host_dir = str(canary.parent)
    image(symlinks={"etc/evil": "/etc", "abs": str(canary), "up": "../../../../../../.."
                    + str(canary), "absdir": host_dir, "updir": "../../../../.." + host_dir})
    lamina("create", "--name", "c1", "busybox", "true")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("abs", "up"):
        result = lamina("cp", "-L", f"c1:/{name}", str(out))
        assert result.code == 1
        assert one_line(result) == f"Error: Could not find the file /{name} in container c1"
        assert lamina("cp", f"c1:/{name}", str(out)).code == 0  # the symlink itself
        assert (out / name).is_symlink()
    for name in ("absdir", "updir"):
        result = lamina("cp", f"c1:/{name}/canary", str(out / "x"))
        assert result.code == 1 and "Could not find the file" in one_line(result)
    # /etc/evil -> /etc is the container's own /etc.
    assert lamina("cp", "c1:/etc/evil/passwd", str(out / "passwd")).code == 0
    assert (out / "passwd").read_bytes().startswith(b"root:x:0:0:")
    assert not (out / "x").exists()

    local = tmp_path / "payload"
    local.write_bytes(b"payload")
    for dest in ("abs", "up", "absdir/canary", "updir/canary", "absdir/", "updir/"):
        result = lamina("cp", str(local), f"c1:/{dest}")
        assert result.code == 1, dest
        one_line(result)
    # Written inside the container, where the link points there.
    assert lamina("cp", str(local), "c1:/etc/evil/").code == 0
    assert (upper(store_root, lamina, "c1") / "etc/payload").read_bytes() == b"payload"
    assert untouched(canary)


@pytest.mark.parametrize("members", [
    [(member("../x"), b"x")],
    [(member("a/../../x"), b"x")],
    [(member("/abs"), b"x")],
    [(member("l", tarfile.SYMTYPE, "HOST"), None), (member("l/canary"), b"x")],
    [(member("l", tarfile.SYMTYPE, "../../../../../../../../HOST"), None),
     (member("l/new"), b"x")],
    [(member("h", tarfile.LNKTYPE, "HOST/canary"), None)],
    [(member("h", tarfile.LNKTYPE, "../../../../../../HOST/canary"), None)],
    [(member("ok"), b"fine"), (member("h", tarfile.LNKTYPE, "/etc/passwd"), None)],
    [(member("ok"), b"fine"), (member("null", tarfile.CHRTYPE), None)],
    [(member("ok"), b"fine"), (member("disk", tarfile.BLKTYPE), None)],
    [(member("fifo", tarfile.FIFOTYPE), None)],
    [(member("h", tarfile.LNKTYPE, "later"), None), (member("later"), b"x")],
    [(member("l", tarfile.SYMTYPE, "HOST/canary"), None), (member("h", tarfile.LNKTYPE, "l"),
                                                         None)],
    [(member("f"), b"x"), (member("f/inside"), b"x")],
    [(member("ok"), b"fine"), (member("owner"), b"x")],
    [(member("existing-link/x"), b"x")],
    [(member("ok"), b"fine"), (member("proc-link/x"), b"x")],
], ids=["dotdot", "dotdot-inner", "absolute", "symlink-abs-then-file", "symlink-up-then-file",
        "hardlink-abs", "hardlink-up", "hardlink-etc", "char-device", "block-device", "fifo",
        "hardlink-forward", "hardlink-to-symlink",
        "file-then-child", "uid-out-of-range", "through-image-symlink",
        "through-image-symlink-late"])
def test_hostile_tar_refused_whole(lamina: Run, image: Image, canary: Path, store_root: Path,
                                   members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    host = str(canary.parent)
    image(extra={"dst/keep": b"k"},
          symlinks={"dst/existing-link": host, "dst/proc-link": "/proc"})
    lamina("create", "--name", "c1", "busybox", "true")
    up = upper(store_root, lamina, "c1")
    for info, _ in members:
        if info.name == "owner":
            info.uid = 1 << 40
        relative = ".." in info.linkname
        info.linkname = info.linkname.replace("HOST", host.lstrip("/") if relative else host)
    before = tree(up)
    result = lamina("cp", "-", "c1:/dst", stdin=tar_of(*members))
    assert result.code == 1
    assert one_line(result).startswith("Error: ")
    assert tree(up) == before  # nothing written, not even the members before the bad one
    assert untouched(canary)
    assert not mounts_under(store_root / "containers")  # mounted for the copy, and no more


def test_kernel_dirs_and_bad_input(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    lamina("create", "--name", "c1", "busybox", "true")
    lamina("create", "--name", "c2", "busybox", "true")
    local = tmp_path / "f"
    local.write_bytes(b"x")
    for dest in ("c1:/proc/x", "c1:/sys/", "c1:/dev/f", "c1:/dev"):
        result = lamina("cp", str(local), dest)
        assert result.code == 1 and "/proc, /sys and /dev" in one_line(result), dest
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "null").write_bytes(b"")
    result = lamina("cp", str(dev), "c1:/")
    assert result.code == 1 and "/proc, /sys and /dev" in one_line(result)
    result = lamina("cp", str(local), "nosuch:/x")
    assert (result.code, one_line(result)) == (1, "Error: No such container: nosuch")
    result = lamina("cp", "c1:/nope", str(tmp_path / "out"))
    assert one_line(result) == "Error: Could not find the file /nope in container c1"
    result = lamina("cp", str(local), str(tmp_path / "other"))
    assert one_line(result) == "Error: must specify at least one container source"
    result = lamina("cp", "c1:/etc/passwd", "c2:/tmp")
    assert one_line(result) == "Error: copying between containers is not supported"
    assert result.code == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "other").exists()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = lamina("cp", str(fifo), "c1:/tmp/")
    assert result.code == 1 and "devices, fifos and sockets" in one_line(result)


def test_a_deep_tree_is_copied_without_recursion(lamina: Run, image: Image, tmp_path: Path,
                                                 store_root: Path) -> None:
    image()
    lamina("create", "--name", "c1", "busybox", "true")
    fd = os.open(upper(store_root, lamina, "c1"), os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1500):  # deeper than Python's recursion limit
        os.mkdir("d", dir_fd=fd)
        sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    os.close(fd)
    result = lamina("cp", "c1:/d", str(tmp_path / "out"))
    assert result.code == 0, result.err
    fd = os.open(tmp_path / "out", os.O_RDONLY | os.O_DIRECTORY)
    depth = 1
    while "d" in os.listdir(fd):
        sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, depth = sub, depth + 1
    os.close(fd)
    assert depth == 1500
    remove_chain(tmp_path / "out")  # (pytest's clean-up, shutil.rmtree, recurses)
    assert lamina("rm", "c1").out == "c1\n"  # lamina's removal does not
    assert os.listdir(store_root / "containers") == []


def remove_chain(root: Path) -> None:
    """Remove a chain of directories named d below ``root``, deepest first, without recursion."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    while "d" in os.listdir(fds[-1]):
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    os.close(fds.pop())
    while fds:
        os.rmdir("d", dir_fd=fds[-1])
        os.close(fds.pop())
    root.rmdir()


def test_not_a_tar_or_truncated(lamina: Run, image: Image, store_root: Path) -> None:
    image(extra={"dst/keep": b"k"})
    lamina("create", "--name", "c1", "busybox", "true")
    up = upper(store_root, lamina, "c1")
    before = tree(up)
    result = lamina("cp", "-", "c1:/dst", stdin=b"not a tar at all\n" * 100)
    assert result.code == 1 and "not a valid tar" in one_line(result)
    whole = tar_of((member("first"), b"1"), (member("second"), b"2" * 5000))
    result = lamina("cp", "-", "c1:/dst", stdin=whole[:2500])
    assert result.code == 1 and "not a valid tar" in one_line(result)
    assert tree(up) == before


def test_modes_setuid_and_read_only_directories(lamina: Run, image: Image, tmp_path: Path,
                                                store_root: Path) -> None:
    image()
    lamina("create", "--name", "c1", "busybox", "true")
    future = member("future")
    future.mtime = 10**20  # clamped, never a crash
    archive = tar_of(
        (future, b""),
        (member("ro", tarfile.DIRTYPE, mode=0o555), None),
        (member("ro/suid", mode=0o4755), b"#!/bin/sh\n"),
    )
    assert lamina("cp", "-", "c1:/tmp", stdin=archive).code == 0
    up = upper(store_root, lamina, "c1")
    assert stat.S_IMODE((up / "tmp/ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((up / "tmp/ro/suid").stat().st_mode) == 0o4755
    # Out to the host: setuid and setgid bits only with -a.
    assert lamina("cp", "c1:/tmp/ro", str(tmp_path / "plain")).code == 0
    assert stat.S_IMODE((tmp_path / "plain/suid").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o555
    assert lamina("cp", "-a", "c1:/tmp/ro", str(tmp_path / "kept")).code == 0
    assert stat.S_IMODE((tmp_path / "kept/suid").stat().st_mode) == 0o4755
    # The whole root, to a new directory.
    assert lamina("cp", "-q", "c1:/", str(tmp_path / "root")).code == 0
    assert (tmp_path / "root/etc/passwd").read_bytes().startswith(b"root:x:0:0:")
    assert (tmp_path / "root/bin/sh").is_symlink()


def test_read_only_container_refused(lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    lamina("create", "--name", "ro", "--read-only", "busybox", "true")
    local = tmp_path / "f"
    local.write_bytes(b"x")
    result = lamina("cp", str(local), "ro:/tmp/")
    assert result.code == 1
    assert one_line(result) == "Error: container rootfs is marked read-only"
    assert lamina("cp", "ro:/etc/passwd", str(tmp_path / "passwd")).code == 0
