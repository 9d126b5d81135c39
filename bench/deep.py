"""Deep trees: time and peak memory of lamina at 100, 1,000 and 10,000 levels, against umoci.

For each depth, a one-layer image holding one path that many directories deep is loaded with
`lamina load`, and unpacked by `umoci unpack` from the same OCI layout (the peer), once with
the path as the layer's one entry, once with every level an entry of its own; then, as
root, a container whose writable layer holds such a tree is committed, exported, diffed and
copied out (`lamina commit`, `export`, `diff`, `cp`). Each command runs in a process of its
own, and its wall time, CPU time (user and system: the steadier figure on a busy machine)
and peak RSS are printed, with umoci's and the ratio, and each figure's growth from the
previous depth (x10 levels: linear growth is about x10 in time and flat in memory; a tar of
such a tree grows with the square of the depth, its names being that long).

    python bench/deep.py [--depths 100,1000,10000]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.busybox import busybox_tar  # noqa: E402
from helpers.images import make_image, tar_directory, write_oci_layout  # noqa: E402

PEAK = ("import resource, subprocess, sys;"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(u.ru_maxrss, u.ru_utime + u.ru_stime);"
        "sys.exit(r.returncode)")


PEER_TIMEOUT = 120.0


def measure(argv: list[str], env: dict[str, str], timeout: float | None = None
            ) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user and system) of ``argv``, in a
    process of its own. (On a busy machine the CPU time is the steadier figure.)"""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", PEAK, *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the command too, not only its wrapper
        proc.communicate()
        raise
    done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {done.stderr.strip()[-300:]}")
    rss, cpu = done.stdout.split()[-2:]
    return seconds, int(rss) / 1024, float(cpu)


def deep_layer(depth: int, each_level: bool = False) -> bytes:
    """One path ``depth`` directories deep; with ``each_level``, every directory on the way
    is an entry of its own too (as a tar of a real tree has them)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if each_level:
            for level in range(1, depth + 1):
                info = tarfile.TarInfo("d/" * level)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
        info = tarfile.TarInfo("d/" * depth + "bottom")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"deep\n"))
    return buf.getvalue()


def deep_tree(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    out = os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(out, b"deep\n")
    os.close(out)
    os.close(fd)


def lamina(*argv: str) -> list[str]:
    return [sys.executable, "-m", "lamina", *argv]


Figures = tuple[float, float, float]


def row(depth: int, what: str, ours: Figures, prev: dict[str, Figures],
        peer: Figures | str | None = None) -> None:
    grow = ""
    if what in prev:
        t0, m0, c0 = prev[what]
        grow = (f"  x{ours[0] / t0:5.1f} time  x{ours[2] / max(c0, 0.01):5.1f} cpu"
                f"  x{ours[1] / m0:4.2f} memory")
    peer_text = ""
    if isinstance(peer, str):
        peer_text = f"  umoci {peer}"
    elif peer is not None:
        peer_text = (f"  umoci {peer[0]:7.2f} s {peer[2]:7.2f} s cpu {peer[1]:7.1f} MB  "
                     f"ratio {ours[0] / peer[0]:5.2f}")
    print(f"{depth:>6}  {what:<8} {ours[0]:7.2f} s {ours[2]:7.2f} s cpu {ours[1]:7.1f} MB"
          f"{peer_text}{grow}", flush=True)
    prev[what] = ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="100,1000,10000")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    containers = os.geteuid() == 0 and shutil.which("runc") is not None
    umoci = shutil.which("umoci")
    print(f"{'depth':>6}  {'command':<8} {'lamina':>9} {'cpu':>13} {'peak':>10}")
    prev: dict[str, Figures] = {}
    from lamina.store.scratch import remove_tree

    for depth in depths:
        tmp = Path(tempfile.mkdtemp(prefix="lamina-deep-"))
        try:
            env = {**os.environ, "LAMINA_ROOT": str(tmp / "store"),
                   "LAMINA_CONFIG": str(tmp / "none.toml")}
            # "load": one entry, the deep path; "load-all": an entry for every level too.
            for what, each_level in (("load", False), ("load-all", True)):
                image = make_image([deep_layer(depth, each_level)])
                layout = write_oci_layout(tmp / f"layout-{what}", [(image, "deep")])
                archive = tmp / f"{what}.tar"
                archive.write_bytes(tar_directory(layout))
                ours = measure(lamina("load", "-q", "-i", str(archive)), env)
                peer: Figures | str | None = None
                if umoci:
                    try:
                        peer = measure([umoci, "unpack", "--rootless", "--image",
                                        f"{layout}:deep", str(tmp / f"bundle-{what}")], env,
                                       PEER_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        peer = f"did not finish in {PEER_TIMEOUT:.0f} s"
                    except RuntimeError as err:  # what it said, without the path it names
                        peer = "failed: " + str(err).rsplit(": ", 1)[-1]
                row(depth, what, ours, prev, peer)
            if not containers:
                continue
            rootfs = tmp / "rootfs.tar"
            rootfs.write_bytes(busybox_tar())
            subprocess.run(lamina("import", str(rootfs), "bb"), env=env, check=True,
                           capture_output=True)
            cid = subprocess.run(lamina("create", "bb", "true"), env=env, check=True,
                                 capture_output=True, text=True).stdout.strip()
            deep_tree(tmp / "store" / "containers" / cid / "upper", depth)
            row(depth, "commit", measure(lamina("commit", cid, "deep:2"), env), prev)
            row(depth, "export", measure(lamina("export", "-o", str(tmp / "e.tar"), cid),
                                         env), prev)
            row(depth, "diff", measure(lamina("diff", cid), env), prev)
            (tmp / "out").mkdir()
            row(depth, "cp", measure(lamina("cp", f"{cid}:/d", str(tmp / "out")), env), prev)
            subprocess.run(lamina("rm", "-f", cid), env=env, capture_output=True)
        finally:
            remove_tree(tmp)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
