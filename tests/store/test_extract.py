"""The safe layer extractor: breakout attempts in the style of moby's ``testBreakout`` and
containerd's ``TestBreakouts`` (our own scenarios and data), then what a layer must keep.

Every hostile case runs against a destination with a sentinel tree beside it (``victim/`` and
``etc/``) and checks the sentinel is byte for byte, mode for mode, exactly as before, whether the
extractor refused the layer or contained it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from lamina.errors import IntegrityError
from lamina.image.compression import HashingReader
from lamina.image.layer import write_layer
from lamina.store.extract import ExtractStats, extract_layer

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root")
MTIME = 1704067200

# --------------------------------------------------------------------------- tar building


def reg(
    name: str, data: bytes = b"", mode: int = 0o644, **kw: object
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, MTIME
    for key, value in kw.items():
        setattr(info, key, value)
    return info, data


def node(
    name: str, kind: bytes, mode: int = 0o755, linkname: str = "", **kw: object
) -> tuple[tarfile.TarInfo, bytes]:
    info, _ = reg(name, b"", mode, **kw)
    info.type, info.linkname = kind, linkname
    return info, b""


def dir_(name: str, mode: int = 0o755, **kw: object) -> tuple[tarfile.TarInfo, bytes]:
    return node(name, tarfile.DIRTYPE, mode, **kw)


def sym(name: str, target: str, **kw: object) -> tuple[tarfile.TarInfo, bytes]:
    return node(name, tarfile.SYMTYPE, 0o777, target, **kw)


def link(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return node(name, tarfile.LNKTYPE, 0o644, target)


def make_tar(entries: Iterable[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def extract(tar: bytes, dest: Path, **kw: object) -> ExtractStats:
    return extract_layer(io.BytesIO(tar), dest, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sentinel


def snapshot(top: Path, skip: Path) -> dict[str, tuple[object, ...]]:
    """Everything about the tree under ``top`` (except ``skip``) an attack could change."""
    seen: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in [*dirnames, *filenames]:
            path = here / name
            st = path.lstat()
            content: object = None
            if stat.S_ISREG(st.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            seen[str(path.relative_to(top))] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_nlink,
                st.st_mtime_ns,
                st.st_size,
                content,
            )
    return seen


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(top, dest): ``top/victim/hello``, ``top/etc/passwd``, and the empty ``top/dest``."""
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "hello").write_bytes(b"hello\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_bytes(b"root:x:0:0\n")
    perm400 = tmp_path / "perm400"
    perm400.write_bytes(b"...")
    perm400.chmod(0o400)
    dest = tmp_path / "dest"
    dest.mkdir()
    return tmp_path, dest


def attempt(top: Path, dest: Path, *layers: bytes, **kw: object) -> Exception | None:
    """Extract ``layers`` one after the other into ``dest``; the outside must not change.

    As root the extraction runs in a child process chrooted into ``top``: the cases aim
    symlinks at ``/`` and ``/etc``, and an extractor that followed them would otherwise reach
    the host's real ``/etc``. In the jail they reach ``top/etc``, where the sentinel sees it.
    Without root nothing of the host is writable anyway, so it runs in this process.
    """
    assert dest == top / "dest"
    before = snapshot(top, dest)
    outcome = _jailed(top, layers, kw) if IS_ROOT else _extract_all(dest, layers, kw)
    assert snapshot(top, dest) == before, "the outside of the layer changed"
    if outcome.startswith("crash:"):
        pytest.fail(outcome)
    if outcome.startswith("refused:"):
        message = outcome.removeprefix("refused:")
        assert "\n" not in message
        return IntegrityError(message)
    return None


def _extract_all(dest: Path, layers: tuple[bytes, ...], kw: dict[str, object]) -> str:
    for layer in layers:
        try:
            extract(layer, dest, **kw)
        except IntegrityError as exc:
            return "refused:" + str(exc)
    return ""


def _jailed(top: Path, layers: tuple[bytes, ...], kw: dict[str, object]) -> str:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.chroot(top)
            os.chdir("/")
            outcome = _extract_all(Path("/dest"), layers, kw)
        except BaseException as exc:
            outcome = f"crash:{type(exc).__name__}: {exc}"
        finally:
            try:
                os.write(write_end, outcome.encode("utf-8", "replace"))
            finally:
                os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    return outcome


# --------------------------------------------------------------------------- breakouts


# moby's TestUntarInvalidFilenames / TestUntarInvalidHardlink: each must be refused.
REFUSED = {
    "dotdot-file": [reg("../victim/dotdot")],
    "dotdot-in-middle": [reg("a/../../victim/x")],
    "hardlink-dotdot": [link("dotdot", "../victim/hello")],
    "hardlink-slash-dotdot": [link("slash-dotdot", "/../victim/hello")],
    "hardlink-dir-then-file": [link("loophole-victim", "../victim"), reg("loophole-victim/file")],
    "hardlink-dir-then-symlink": [
        link("loophole-victim", "../victim"),
        sym("symlink", "loophole-victim/hello"),
    ],
    "hardlink-dir-then-hardlink": [
        link("loophole-victim", "../victim"),
        link("hardlink", "loophole-victim/hello"),
    ],
    "hardlink-dir-then-replace": [link("loophole-victim", "../victim"), reg("loophole-victim")],
    "symlink-then-hardlink-through-it": [
        sym("loophole-victim", "../victim"),
        link("hardlink", "loophole-victim/hello"),
    ],
    "hardlink-long-relative": [
        dir_("etc"),
        reg("etc/passwd", b"inside"),
        link("localpasswd", "../../../../../etc/passwd"),
    ],
    "hardlink-to-directory": [dir_("etc"), link("etclink", "etc")],
    "hardlink-to-missing": [link("x", "nothing/here")],
    "symlink-named-dotdot": [sym("..", "/etc/"), reg("x")],
    "symlink-empty-name": [sym("", "/etc/")],
    "whiteout-parent-at-root": [reg(".wh...")],
    "whiteout-parent": [dir_("etc"), reg("etc/.wh...")],
    "whiteout-self-at-root": [reg(".wh..")],
    "whiteout-self": [dir_("etc"), reg("etc/.wh..")],
    "whiteout-empty": [reg(".wh.")],
    "whiteout-dotdot-path": [reg("../.wh.victim")],
    "symlink-loop": [sym("a", "b"), sym("b", "a"), reg("a/x")],
    "file-as-parent": [reg("f", b"x"), reg("f/x")],
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused(sandbox: tuple[Path, Path], name: str) -> None:
    top, dest = sandbox
    error = attempt(top, dest, make_tar(REFUSED[name]))
    assert isinstance(error, IntegrityError), f"{name} was not refused"
    assert "layer" in str(error)


# Contained: extracted, but every write lands inside dest (moby's TestUntarInvalidSymlink,
# containerd's TestBreakouts). The second item checks where things went.
def _is_link_to(path: str, target: str):  # type: ignore[no-untyped-def]
    return lambda d: os.readlink(d / path) == target


CONTAINED = {
    "symlink-dotdot": (
        [sym("dotdot", "../victim/hello")],
        _is_link_to("dotdot", "../victim/hello"),
    ),
    "symlink-slash-dotdot": (
        [sym("slash-dotdot", "/../victim/hello")],
        _is_link_to("slash-dotdot", "/../victim/hello"),
    ),
    "symlink-dir-then-file": (
        [sym("loophole-victim", "../victim"), reg("loophole-victim/file", b"x")],
        lambda d: (d / "victim" / "file").read_bytes() == b"x",
    ),
    "symlink-symlink": (
        [sym("loophole-victim", "../victim"), sym("symlink", "loophole-victim/hello")],
        _is_link_to("symlink", "loophole-victim/hello"),
    ),
    "symlink-then-replaced-by-file": (
        [sym("loophole-victim", "../victim"), reg("loophole-victim", b"f")],
        lambda d: (d / "loophole-victim").read_bytes() == b"f",
    ),
    "symlink-in-middle-of-path": (
        [sym("dir/loophole", "../../victim"), reg("dir/loophole/newdir/newfile", b"n")],
        lambda d: (d / "victim/newdir/newfile").read_bytes() == b"n",
    ),
    "slash-dotdot-name": (
        [reg("/../victim/slash-dotdot", b"s")],
        lambda d: (d / "victim/slash-dotdot").read_bytes() == b"s",
    ),
    "absolute-name": (
        [reg("/etc/passwd", b"evil")],
        lambda d: (d / "etc/passwd").read_bytes() == b"evil",
    ),
    "symlink-to-root-then-write": (
        [sym("rootlink", "/"), reg("rootlink/etc/passwd", b"evil")],
        lambda d: (d / "etc/passwd").read_bytes() == b"evil",
    ),
    "symlink-absolute": (
        [dir_("etc"), sym("localetc", "/etc"), reg("/localetc/unbroken", b"unbroken")],
        lambda d: (d / "etc/unbroken").read_bytes() == b"unbroken",
    ),
    "symlink-up-and-out": (
        [
            dir_("etc"),
            dir_("dummy"),
            sym("localetc", "/dummy/../etc"),
            reg("localetc/unbroken", b"u"),
        ],
        lambda d: (d / "etc/unbroken").read_bytes() == b"u",
    ),
    "symlink-multiple-absolute": (
        [
            dir_("etc"),
            dir_("dummy"),
            sym("/dummy/etc", "/etc"),
            sym("localetc", "/dummy/etc"),
            reg("/dummy/etc/unbroken", b"u"),
        ],
        lambda d: (d / "etc/unbroken").read_bytes() == b"u",
    ),
    "symlink-multiple-relative": (
        [
            dir_("etc"),
            dir_("dummy"),
            sym("/dummy/etc", "/etc"),
            sym("localetc", "./dummy/etc"),
            reg("localetc/unbroken", b"u"),
        ],
        lambda d: (d / "etc/unbroken").read_bytes() == b"u",
    ),
    "symlink-empty-file": (
        [
            dir_("etc"),
            reg("etc/emptied", b"notempty"),
            sym("localetc", "/etc"),
            reg("/localetc/emptied"),
        ],
        lambda d: (d / "etc/emptied").read_bytes() == b"",
    ),
    "hardlink-relative-via-symlink": (
        [
            dir_("etc"),
            reg("etc/passwd", b"inside"),
            dir_("breakouts"),
            sym("breakouts/d1", "../../etc"),
            link("breakouts/mypasswd", "/breakouts/d1/passwd"),
        ],
        lambda d: os.path.samefile(d / "breakouts/mypasswd", d / "etc/passwd"),
    ),
    "hardlink-down-and-out": (
        [
            dir_("etc"),
            reg("etc/passwd", b"inside"),
            dir_("breakouts"),
            dir_("downandout"),
            sym("breakouts/d1", "../downandout/../../etc"),
            link("breakouts/mypasswd", "/breakouts/d1/passwd"),
        ],
        lambda d: os.path.samefile(d / "breakouts/mypasswd", d / "etc/passwd"),
    ),
    "hardlink-absolute-via-symlink": (
        [
            dir_("etc"),
            reg("etc/passwd", b"inside"),
            sym("localetc", "/etc"),
            link("localpasswd", "/localetc/passwd"),
        ],
        lambda d: os.path.samefile(d / "localpasswd", d / "etc/passwd"),
    ),
    "hardlink-relative-long-symlink": (
        [
            dir_("etc"),
            reg("etc/passwd", b"inside"),
            sym("localetc", "../../../../../../../etc"),
            link("localpasswd", "/localetc/passwd"),
        ],
        lambda d: os.path.samefile(d / "localpasswd", d / "etc/passwd"),
    ),
    "hardlink-direct-absolute": (
        [dir_("etc"), reg("etc/passwd", b"inside"), link("localpasswd", "/etc/passwd")],
        lambda d: os.path.samefile(d / "localpasswd", d / "etc/passwd"),
    ),
    "hardlink-to-escaping-symlink": (
        [
            dir_("etc"),
            reg("etc/passwd", b"inside"),
            sym("passwdlink", "../../../../../etc/passwd"),
            link("localpasswd", "/passwdlink"),
        ],
        lambda d: (
            os.readlink(d / "localpasswd") == "../../../../../etc/passwd"
            and os.path.samestat(os.lstat(d / "localpasswd"), os.lstat(d / "passwdlink"))
        ),
    ),
    "hardlink-symlink-before-target": (
        [
            dir_("etc"),
            sym("localpasswd", "/etc/passwd"),
            link("localpasswd-dup", "localpasswd"),
            reg("/etc/passwd", b"after"),
        ],
        lambda d: os.readlink(d / "localpasswd-dup") == "/etc/passwd",
    ),
    "symlink-parent-relative": (
        [
            dir_("etc"),
            reg("etc/passwd", b"inside"),
            sym("localetc/sub/..", "/etc/"),
            link("/localetc/localpasswd", "/etc/passwd"),
        ],
        lambda d: os.path.samefile(d / "etc/localpasswd", d / "etc/passwd"),
    ),
    "whiteout-directory-name": (
        [reg(".wh.etc/somefile", b"non-empty")],
        lambda d: (d / ".wh.etc/somefile").read_bytes() == b"non-empty",
    ),
}


@pytest.mark.parametrize("name", sorted(CONTAINED))
def test_contained(sandbox: tuple[Path, Path], name: str) -> None:
    top, dest = sandbox
    entries, check = CONTAINED[name]
    assert attempt(top, dest, make_tar(entries)) is None
    assert check(dest), f"{name}: not where expected"


def test_hardlink_to_outside_symlink_keeps_outside_mode(sandbox: tuple[Path, Path]) -> None:
    # containerd's HardlinkSymlinkChmod: a symlink named like an outside file, pointing at
    # another outside file, then a hardlink to it: nothing outside may be chmodded.
    top, dest = sandbox
    outside = str(top / "victim" / "hello")
    entries = [sym(outside, str(top / "perm400")), link("sketchylink", outside)]
    assert attempt(top, dest, make_tar(entries)) is None
    assert (top / "perm400").stat().st_mode & 0o777 == 0o400
    assert os.readlink(dest / "sketchylink") == str(top / "perm400")


# Cross-layer: layer A leaves symlinks, layer B (extracted into the same directory, as a stack
# flattened into one tree would be) tries to use them.
CROSS = {
    "relative-escape": (
        [sym("lib", "../../../../victim")],
        [reg("lib/evil", b"e")],
        lambda d: (d / "victim/evil").read_bytes() == b"e",
    ),
    "root-symlink": (
        [sym("root", "/")],
        [reg("root/etc/passwd", b"e")],
        lambda d: (d / "etc/passwd").exists(),
    ),
    "dir-over-symlink": (
        [dir_("etc"), reg("etc/passwd", b"inside"), sym("localetc", "/etc")],
        [dir_("localetc"), reg("localetc/file", b"f")],
        lambda d: (d / "localetc").is_dir() and not (d / "localetc").is_symlink(),
    ),
    "hardlink-to-lower-symlink": (
        [sym("lnk", "../victim/hello")],
        [link("h", "lnk")],
        lambda d: os.readlink(d / "h") == "../victim/hello",
    ),
    "whiteout-symlink": (
        [dir_("etc"), reg("etc/passwd", b"all users"), sym("localetc", "/etc")],
        [reg(".wh.localetc")],
        lambda d: (
            not os.path.lexists(d / "localetc") and (d / "etc/passwd").read_bytes() == b"all users"
        ),
    ),
    "whiteout-through-symlink": (
        [dir_("etc"), reg("etc/passwd", b"p"), reg("etc/whitedout", b"w"), sym("localetc", "/etc")],
        [reg("localetc/.wh.whitedout")],
        lambda d: not (d / "etc/whitedout").exists() and (d / "etc/passwd").exists(),
    ),
    "whiteout-dead-symlink-parent": (
        [dir_("etc"), reg("etc/passwd", b"p"), sym("localetc", "/dne")],
        [reg("localetc/.wh.etc")],
        lambda d: (d / "etc/passwd").read_bytes() == b"p",
    ),
    "whiteout-relative-path": (
        [dir_("etc"), reg("etc/passwd", b"p")],
        [reg("dne/../.wh.etc")],
        lambda d: not (d / "etc").exists(),
    ),
    "opaque-through-symlink": (
        [dir_("etc"), reg("etc/passwd", b"p"), sym("localetc", "/etc")],
        [reg("localetc/.wh..wh..opq")],
        lambda d: not (d / "etc/passwd").exists() and (d / "localetc").is_symlink(),
    ),
}


@pytest.mark.parametrize("name", sorted(CROSS))
def test_cross_layer(sandbox: tuple[Path, Path], name: str) -> None:
    top, dest = sandbox
    lower, upper, check = CROSS[name]
    assert attempt(top, dest, make_tar(lower), make_tar(upper), whiteouts="apply") is None
    assert check(dest), f"{name}: not where expected"


@needs_root
@pytest.mark.root
@pytest.mark.parametrize("name", sorted(set(CROSS) - {"whiteout-relative-path"}))
def test_cross_layer_overlay_mode(sandbox: tuple[Path, Path], name: str) -> None:
    # The same upper layers, unpacked with overlay whiteouts over the lower one's symlinks.
    top, dest = sandbox
    lower, upper, _ = CROSS[name]
    assert attempt(top, dest, make_tar(lower), make_tar(upper)) is None


def test_whiteout_refused_in_subdirectory_names_entry(sandbox: tuple[Path, Path]) -> None:
    top, dest = sandbox
    error = attempt(top, dest, make_tar([dir_("etc"), reg("etc/.wh...")]))
    assert error is not None and "etc/.wh..." in str(error)


# --------------------------------------------------------------------------- what is kept


def test_files_dirs_symlinks_hardlinks(tmp_path: Path) -> None:
    tar = make_tar(
        [
            dir_("./"),
            dir_("bin"),
            reg("bin/busybox", b"\x7fELF" + b"x" * 3_000_000, 0o755),
            link("bin/sh", "bin/busybox"),
            sym("bin/ls", "busybox"),
            sym("etc/mtab", "/proc/self/mounts"),
            reg("etc/hostname", b"box\n"),
            reg("empty"),
        ]
    )
    stats = extract(tar, tmp_path)
    assert (stats.files, stats.dirs, stats.symlinks, stats.hardlinks) == (3, 1, 2, 1)
    assert stats.bytes == 3_000_004 + 4
    assert (tmp_path / "bin/busybox").read_bytes()[:4] == b"\x7fELF"
    assert os.path.samefile(tmp_path / "bin/sh", tmp_path / "bin/busybox")
    assert os.readlink(tmp_path / "bin/ls") == "busybox"
    assert os.readlink(tmp_path / "etc/mtab") == "/proc/self/mounts"
    assert (tmp_path / "etc").stat().st_mode & 0o777 == 0o755  # implicit parent
    assert (tmp_path / "empty").stat().st_size == 0


def test_modes_including_special_bits(tmp_path: Path) -> None:
    tar = make_tar(
        [
            reg("suid", b"x", 0o4755),
            reg("sgid", b"x", 0o2711),
            reg("private", b"x", 0o600),
            dir_("tmp", 0o1777),
            dir_("ro", 0o555),
            reg("ro/inside", b"x", 0o444),
            dir_("locked", 0o000),
            reg("locked/secret", b"x"),
        ]
    )
    extract(tar, tmp_path)
    mode = lambda p: stat.S_IMODE((tmp_path / p).lstat().st_mode)  # noqa: E731
    assert mode("suid") == 0o4755 and mode("sgid") == 0o2711 and mode("private") == 0o600
    assert mode("tmp") == 0o1777 and mode("ro") == 0o555 and mode("ro/inside") == 0o444
    assert mode("locked") == 0o000
    (tmp_path / "locked").chmod(0o700)  # so tmp_path can be cleaned


def test_modes_the_umask_would_strip(tmp_path: Path) -> None:
    # Files whose mode survives the umask are made with it; the others are set afterwards.
    old = os.umask(0o027)
    try:
        tar = make_tar([reg("open", b"x", 0o666), reg("plain", b"x", 0o640),
                        reg("exec", b"x", 0o775), reg("none", b"x", 0o000)])
        extract(tar, tmp_path)
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE((tmp_path / p).lstat().st_mode)  # noqa: E731
    assert (mode("open"), mode("plain"), mode("exec"), mode("none")) == (0o666, 0o640, 0o775, 0)


def test_existing_directory_kept_and_updated(tmp_path: Path) -> None:
    tar = make_tar([dir_("d", 0o700), reg("d/a", b"a"), dir_("d", 0o750), reg("d/b", b"b")])
    extract(tar, tmp_path)
    assert sorted(os.listdir(tmp_path / "d")) == ["a", "b"]
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o750


def test_replacements(tmp_path: Path) -> None:
    tar = make_tar(
        [
            dir_("a"),
            reg("a/child", b"c"),
            reg("a", b"file now"),  # file replaces directory
            reg("b", b"x"),
            dir_("b"),  # directory replaces file
            reg("c", b"x"),
            sym("c", "elsewhere"),  # symlink replaces file
            reg("d", b"one"),
            link("e", "d"),
            reg("d", b"two"),  # new file, link keeps old inode
        ]
    )
    extract(tar, tmp_path)
    assert (tmp_path / "a").read_bytes() == b"file now"
    assert (tmp_path / "b").is_dir()
    assert os.readlink(tmp_path / "c") == "elsewhere"
    assert (tmp_path / "d").read_bytes() == b"two" and (tmp_path / "e").read_bytes() == b"one"


def test_a_file_replaces_a_directory_deeper_than_recursion(tmp_path: Path) -> None:
    """A layer may nest 1,100 directories (past Python's recursion limit) and then replace the
    top one with a file: removing the tree is no error (it was a RecursionError)."""
    chain = ["a" + "/d" * depth for depth in range(1100)]
    extract(make_tar([*(dir_(path) for path in chain), reg(f"{chain[-1]}/f", b"x"),
                      reg("a", b"file now")]), tmp_path)
    assert (tmp_path / "a").read_bytes() == b"file now"


def test_mtimes_including_directories_and_nanoseconds(tmp_path: Path) -> None:
    f, data = reg("d/f", b"x")
    f.pax_headers = {"mtime": "1600000000.123456789"}
    tar = make_tar([dir_("d"), (f, data), sym("d/l", "f"), reg("d/g", b"later")])
    extract(tar, tmp_path)
    assert (tmp_path / "d/f").stat().st_mtime_ns == 1600000000_123456789
    assert (tmp_path / "d").stat().st_mtime == MTIME  # set after its children were made
    assert (tmp_path / "d/l").lstat().st_mtime == MTIME


def test_xattrs_filtered(tmp_path: Path) -> None:
    info, data = reg("f", b"x")
    info.pax_headers = {
        "SCHILY.xattr.user.comment": "hello",
        "SCHILY.xattr.trusted.overlay.opaque": "y",
        "SCHILY.xattr.user.overlay.redirect": "/etc",
        "SCHILY.xattr.security.selinux": "system_u:object_r:shadow_t:s0",
    }
    stats = extract(make_tar([(info, data)]), tmp_path)
    assert os.getxattr(tmp_path / "f", "user.comment") == b"hello"
    names = os.listxattr(tmp_path / "f")
    assert "trusted.overlay.opaque" not in names and "user.overlay.redirect" not in names
    assert len([s for s in stats.skipped if "not allowed" in s]) == 3


@needs_root
@pytest.mark.root
def test_file_capability_binary_xattr(tmp_path: Path) -> None:
    # cap_net_bind_service+ep as a v2 vfs_cap_data: binary, not UTF-8.
    cap = bytes.fromhex("0100000200040000000000000000000000000000")
    info, data = reg("ping", b"\x7fELF", 0o755)
    info.pax_headers = {"SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape")}
    stats = extract(make_tar([(info, data)]), tmp_path)
    try:
        assert os.getxattr(tmp_path / "ping", "security.capability") == cap
    except OSError:
        assert stats.skipped  # the filesystem refused it; counted, not fatal


@needs_root
@pytest.mark.root
def test_ownership(tmp_path: Path) -> None:
    tar = make_tar(
        [
            dir_("home", uid=1000, gid=1000),
            reg("home/f", b"x", 0o4750, uid=1000, gid=50),
            sym("home/l", "f", uid=1001, gid=1002),
            node("home/fifo", tarfile.FIFOTYPE, 0o640, uid=7, gid=8),
        ]
    )
    extract(tar, tmp_path)
    owner = lambda p: (lambda s: (s.st_uid, s.st_gid))((tmp_path / p).lstat())  # noqa: E731
    assert owner("home") == (1000, 1000)
    assert owner("home/f") == (1000, 50)
    assert stat.S_IMODE((tmp_path / "home/f").stat().st_mode) == 0o4750  # setuid survives chown
    assert owner("home/l") == (1001, 1002)
    assert owner("home/fifo") == (7, 8)


@needs_root
@pytest.mark.root
def test_our_own_files_in_setgid_directories_keep_the_owner_of_the_tar(tmp_path: Path) -> None:
    # A new file takes the group of a setgid directory: a file the tar gives to root is
    # chowned back even there, whether the directory came from the tar, was made implicitly
    # below one, or is the destination itself.
    tar = make_tar(
        [
            dir_("shared", 0o2775, gid=50),
            reg("shared/f", b"x", 0o644),
            reg("shared/implicit/g", b"x", 0o644),
            dir_("plain", 0o755),
            reg("plain/h", b"x", 0o644),
            reg("top", b"x", 0o644),
        ]
    )
    os.chown(tmp_path, 0, 60)
    tmp_path.chmod(0o2755)
    extract(tar, tmp_path)
    group = lambda p: (tmp_path / p).lstat().st_gid  # noqa: E731
    assert (group("shared"), group("shared/f"), group("shared/implicit/g")) == (50, 0, 0)
    assert (group("plain"), group("plain/h"), group("top")) == (0, 0, 0)


def test_ownership_skipped_when_asked(tmp_path: Path) -> None:
    extract(make_tar([reg("f", b"x", uid=4242, gid=4242)]), tmp_path, same_owner=False)
    assert (tmp_path / "f").stat().st_uid == os.geteuid()


@needs_root
@pytest.mark.root
def test_devices_and_fifos(tmp_path: Path) -> None:
    tar = make_tar(
        [
            node("dev/null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3),
            node("dev/loop0", tarfile.BLKTYPE, 0o660, devmajor=7, devminor=0),
            node("run/fifo", tarfile.FIFOTYPE, 0o600),
        ]
    )
    stats = extract(tar, tmp_path)
    null = (tmp_path / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK((tmp_path / "dev/loop0").lstat().st_mode)
    assert stat.S_ISFIFO((tmp_path / "run/fifo").lstat().st_mode)
    assert stats.nodes == 3


@needs_root
@pytest.mark.root
def test_whiteouts_in_overlay_format(tmp_path: Path) -> None:
    tar = make_tar(
        [
            reg(".wh.gone"),
            dir_("etc"),
            reg("etc/.wh.shadow"),
            dir_("opt"),
            reg("opt/.wh..wh..opq"),
            reg("opt/new", b"n"),
            reg("var/.wh..wh.plnk"),  # aufs bookkeeping: ignored
        ]
    )
    stats = extract(tar, tmp_path)
    for path in ("gone", "etc/shadow"):
        st = (tmp_path / path).lstat()
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "opt", "trusted.overlay.opaque") == b"y"
    assert (tmp_path / "opt/new").read_bytes() == b"n"
    assert not (tmp_path / "var/.wh..wh.plnk").exists()
    assert (stats.whiteouts, stats.opaques) == (2, 1)


def test_whiteouts_applied(tmp_path: Path) -> None:
    extract(
        make_tar(
            [
                dir_("a"),
                reg("a/x", b"x"),
                reg("a/y", b"y"),
                reg("b", b"b"),
                dir_("c"),
                reg("c/old", b"o"),
            ]
        ),
        tmp_path,
    )
    extract(
        make_tar(
            [reg(".wh.b"), reg("a/.wh.x"), dir_("c"), reg("c/new", b"n"), reg("c/.wh..wh..opq")]
        ),
        tmp_path,
        whiteouts="apply",
    )
    assert sorted(os.listdir(tmp_path)) == ["a", "c"]
    assert os.listdir(tmp_path / "a") == ["y"]
    assert os.listdir(tmp_path / "c") == ["new"]  # opaque keeps what this layer made


@needs_root
@pytest.mark.root
def test_overlayfs_stacks_extracted_layers(tmp_path: Path) -> None:
    lower, upper, work, merged = (tmp_path / n for n in ("A", "B", "work", "merged"))
    for d in (lower, upper, work, merged):
        d.mkdir()
    extract(
        make_tar(
            [
                dir_("etc"),
                reg("etc/keep", b"k"),
                reg("etc/drop", b"d"),
                reg("top", b"t"),
                dir_("opt"),
                reg("opt/old", b"o"),
            ]
        ),
        lower,
    )
    extract(
        make_tar(
            [
                reg("etc/.wh.drop"),
                reg(".wh.top"),
                dir_("opt"),
                reg("opt/.wh..wh..opq"),
                reg("opt/new", b"n"),
            ]
        ),
        upper,
    )
    options = f"lowerdir={upper}:{lower},upperdir={tmp_path / 'up'},workdir={work}"
    (tmp_path / "up").mkdir()
    done = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"overlayfs mount not possible here: {done.stderr.strip()}")
    try:
        assert sorted(os.listdir(merged)) == ["etc", "opt"]
        assert os.listdir(merged / "etc") == ["keep"]
        assert os.listdir(merged / "opt") == ["new"]
    finally:
        subprocess.run(["umount", str(merged)], check=True)


# --------------------------------------------------------------------------- stream handling


def test_whole_stream_is_read_for_the_diff_id(tmp_path: Path) -> None:
    tar = make_tar([reg("f", b"x")]) + b"\0" * 4096  # extra padding, as some writers add
    reader = HashingReader(io.BytesIO(tar))
    extract_layer(reader, tmp_path)  # type: ignore[arg-type]
    assert reader.hasher.size == len(tar)
    assert reader.hasher.digest() == "sha256:" + hashlib.sha256(tar).hexdigest()


def test_empty_layers(tmp_path: Path) -> None:
    assert extract(b"", tmp_path).entries == 0
    assert extract(b"\0" * 1024, tmp_path).entries == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: t[:700], "truncated"),
        (lambda t: t[:1536] + b"garbage!" * 64 + t[2048:], "invalid tar header"),
        (lambda t: b"not a tar at all" * 64, "not a valid tar"),
    ],
)
def test_corrupt_tars_give_one_line(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    tar = make_tar([reg("a", b"a" * 600), reg("b", b"b" * 10), reg("c", b"c")])
    with pytest.raises(IntegrityError, match=message) as info:
        extract(damage(tar), tmp_path)
    assert "\n" not in str(info.value)


def test_sparse_gnu_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as f:
        f.seek(1 << 20)
        f.write(b"end")
    gnutar = shutil.which("tar")
    if gnutar is None:
        pytest.skip("GNU tar is not installed")
    tar = subprocess.run(
        [gnutar, "-C", str(src), "--sparse", "-cf", "-", "sparse"], capture_output=True, check=True
    ).stdout
    dest = tmp_path / "dest"
    dest.mkdir()
    extract(tar, dest)
    assert (dest / "sparse").read_bytes() == b"\0" * (1 << 20) + b"end"


# --------------------------------------------------------------------------- write_layer


def test_write_layer_round_trip_and_reproducible(tmp_path: Path) -> None:
    tar = make_tar(
        [
            dir_("etc"),
            reg("etc/passwd", b"root\n", 0o644),
            link("etc/passwd-", "etc/passwd"),
            sym("etc/localtime", "/usr/share/zoneinfo/UTC"),
            dir_("bin"),
            reg("bin/su", b"x", 0o4755),
            dir_("tmp", 0o1777),
            reg("tmp/ünïcödé", b"u"),
        ]
    )
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    extract(tar, first)
    out1, out2 = io.BytesIO(), io.BytesIO()
    write_layer(first, out1, source_date_epoch=MTIME)
    write_layer(first, out2, source_date_epoch=MTIME)
    assert out1.getvalue() == out2.getvalue()
    extract(out1.getvalue(), second)
    assert snapshot(first, tmp_path / "none") == snapshot(second, tmp_path / "none")
    with tarfile.open(fileobj=io.BytesIO(out1.getvalue())) as written:
        names = written.getnames()
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert "etc/passwd-" in names


@needs_root
@pytest.mark.root
def test_write_layer_turns_overlay_whiteouts_back(tmp_path: Path) -> None:
    tar = make_tar([reg(".wh.gone"), dir_("opt"), reg("opt/.wh..wh..opq"), reg("opt/new", b"n")])
    (tmp_path / "l").mkdir()
    extract(tar, tmp_path / "l")
    out = io.BytesIO()
    write_layer(tmp_path / "l", out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as t:
        members = {m.name: m for m in t.getmembers()}
    assert set(members) == {".wh.gone", "opt", "opt/.wh..wh..opq", "opt/new"}
    assert members[".wh.gone"].isreg() and members[".wh.gone"].size == 0
    assert not any("overlay" in k for m in members.values() for k in m.pax_headers)


def test_write_layer_clamps_mtimes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    out = io.BytesIO()
    write_layer(tmp_path, out, source_date_epoch=1000)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as t:
        (member,) = t.getmembers()
    assert member.mtime == 1000 and member.uname == "" and member.gname == ""
