"""``lamina pull`` against ``skopeo copy`` and ``podman pull``, from a CNCF registry on loopback.

In the same run, on the same images, each trial into a fresh, empty destination:

- lamina: ``lamina pull`` into an empty store (downloads, verifies and unpacks every layer);
- skopeo: ``skopeo copy docker://... oci:<dir>`` (downloads and verifies, does not unpack);
- podman: ``podman pull`` with its own ``--root``/``--runroot`` (downloads and unpacks).

Images (generated here, random-ish but compressible data, gzip):

- ``small``: about 50 MB compressed in 3 layers of many files (a Debian minbase-like tree);
- ``big``: about 190 MB compressed in 4 layers of 64 MiB of large files each.

Prints every median (wall-clock, and the CPU seconds the tool used: its own user and system
time, which the registry's is not part of), and lamina's time as a fraction of each peer's
(the goal: under 0.4 of podman's, within 1.5 of skopeo's).

Usage: ``python bench/pull.py [--trials N] [--only small|big] [--against SRC]``. Needs
docker-registry and skopeo; podman where installed. ``--against SRC`` times another lamina in
the same trials: the ``src/`` directory of, say, a checkout of older code.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from peers import cncf_registry, write_layout

MiB = 1024 * 1024
WORDS = [bytes(random.Random(i).choices(b"abcdefghijklmnopqrstuvwxyz", k=random.Random(i).randint(2, 9)))
         for i in range(4096)]


def compressible(rng: random.Random, size: int, random_run: int = 1024) -> bytes:
    """Random runs between runs of words: gzip takes them to about 0.75 of their size
    (``random_run`` 1024), or about 0.6 (64)."""
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(rng.randint(random_run // 4, random_run))
        out += b" ".join(rng.choices(WORDS, k=rng.randint(100, 400)))
    return bytes(out[:size])


def make_tar(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name, data in files:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1704067200
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1704067200
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def minbase_layer(rng: random.Random, total: int, index: int) -> bytes:
    files = []
    size = 0
    n = 0
    while size < total:
        length = int(min(rng.lognormvariate(8.5, 1.6), 4 * MiB))
        files.append((f"usr/lib/pkg{index}/d{n % 97}/file{n}.bin",
                      compressible(rng, length, 64)))
        size += length
        n += 1
    return make_tar(files)


def big_layer(rng: random.Random, index: int) -> bytes:
    return make_tar([(f"data/layer{index}/blob{i}.bin", compressible(rng, 4 * MiB - 1024))
                     for i in range(16)])


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall-clock, user and system CPU seconds of one run (the CPU times of the tool and of
    whatever it waits for: podman's helpers, not the registry's)."""
    # Every run starts with nothing dirty in the page cache: the writeback of an earlier run
    # (of any tool) would otherwise slow down this one's file creations.
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def compile_lamina() -> None:
    """Bring the bytecode of the lamina being measured up to date: with PYTHONDONTWRITEBYTECODE
    set (as in some environments), a module edited since its last .pyc is compiled again at
    every run, 20-40 ms that would be counted as lamina's."""
    import importlib.util

    spec = importlib.util.find_spec("lamina")
    if spec is None or not spec.submodule_search_locations:
        return
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", *spec.submodule_search_locations],
                   check=False, stdout=subprocess.DEVNULL, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--only", choices=["small", "big"], default=None)
    parser.add_argument("--against", metavar="SRC", default=None,
                        help="the src/ directory of another lamina, timed alongside")
    args = parser.parse_args()
    podman = shutil.which("podman")
    compile_lamina()
    if args.against:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-m", "compileall", "-q", args.against], check=False,
                       stdout=subprocess.DEVNULL, env=env)
    work = Path(tempfile.mkdtemp(prefix="lamina-bench-pull-"))
    try:
        rng = random.Random(42)
        images = {
            "small": [minbase_layer(rng, size, i) for i, size in
                      enumerate([50 * MiB, 25 * MiB, 10 * MiB])],
            "big": [big_layer(rng, i) for i in range(4)],
        }
        if args.only:
            images = {args.only: images[args.only]}
        with cncf_registry(work / "registry") as port:
            host = f"127.0.0.1:{port}"
            for name, tars in images.items():
                layout = work / f"layout-{name}"
                size = write_layout(layout, tars, "v1")
                subprocess.run(["skopeo", "--insecure-policy", "copy", "-q",
                                f"oci:{layout}:v1", f"docker://{host}/bench/{name}:v1",
                                "--dest-tls-verify=false"], check=True)
                print(f"{name}: {len(tars)} layers, {size / 1e6:.0f} MB compressed, "
                      f"{sum(map(len, tars)) / 1e6:.0f} MB uncompressed")
                report(name, host, work, args.trials, podman, args.against)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(name: str, host: str, work: Path, trials: int, podman: str | None,
           against: str | None = None) -> None:
    ref = f"{host}/bench/{name}:v1"
    times: dict[str, list[tuple[float, float, float]]] = {"lamina": [], "skopeo": []}
    if against:
        times["against"] = []
    if podman:
        times["podman"] = []
    runroots: list[Path] = []
    for trial in range(trials):
        dest = work / f"trial-{name}-{trial}"
        runroot = Path(tempfile.mkdtemp(prefix="lbp-"))  # podman wants it short
        env = dict(os.environ, LAMINA_ROOT=str(dest / "lamina"))
        times["lamina"].append(timed([sys.executable, "-m", "lamina", "pull", "-q", ref], env))
        if against:
            times["against"].append(timed(
                [sys.executable, "-m", "lamina", "pull", "-q", ref],
                dict(os.environ, LAMINA_ROOT=str(dest / "against"), PYTHONPATH=against)))
        times["skopeo"].append(timed(["skopeo", "--insecure-policy", "copy", "-q",
                                      "--src-tls-verify=false", f"docker://{ref}",
                                      f"oci:{dest / 'skopeo'}:v1"]))
        if podman:
            times["podman"].append(timed([podman, "--root", str(dest / "podman-root"),
                                          "--runroot", str(runroot), "pull", "-q",
                                          "--tls-verify=false", ref]))
        # Trials are removed only at the end: deleting hundreds of MB between runs slows the
        # next run's file creations. On an ext4 without a journal (as this machine's /) every
        # new inode skips, one by one, the inodes deleted in the last 60 s (360 s while their
        # table block is dirty): after thousands of deletions, by this bench or anything else
        # on the machine, a file creation costs ~0.7 ms of kernel CPU instead of ~40 us
        # (perf: recently_deleted() under find_inode_bit()). That hits lamina and podman,
        # which create every file of the image, and barely skopeo.
        runroots.append(runroot)
    for trial in range(trials):
        shutil.rmtree(work / f"trial-{name}-{trial}", ignore_errors=True)
    for runroot in runroots:
        shutil.rmtree(runroot, ignore_errors=True)
    medians = {tool: statistics.median(v[0] for v in values) for tool, values in times.items()}
    for tool, value in medians.items():
        user = statistics.median(v[1] for v in times[tool])
        system = statistics.median(v[2] for v in times[tool])
        print(f"  {tool:7} median {value:6.2f} s   CPU user {user:5.2f} s  sys {system:5.2f} s"
              "   (trials: " + " ".join(f"{v[0]:.2f}" for v in times[tool]) + ")")
    for tool in ("against", "skopeo", "podman"):
        if tool in medians:
            print(f"  lamina / {tool}: {medians['lamina'] / medians[tool]:.2f}x")


if __name__ == "__main__":
    main()
