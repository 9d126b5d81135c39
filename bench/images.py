"""`lamina images` on a store of 1,000 images, against `podman images` on the same images.

Builds 1,000 small images (each its own layer and config) through the library, loads the same
images into podman from one `lamina save` archive, then times both listing commands and prints
both medians and their ratio. The goal: lamina's median under 0.15 s.

    python bench/images.py [--images 1000] [--runs 21]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from lamina.engine import Engine, Settings


def make_rootfs(i: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = f"image {i}\n".encode()
        info = tarfile.TarInfo(f"etc/image-{i}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_store(root: Path, count: int) -> Engine:
    engine = Engine(Settings.from_env(root))
    for i in range(count):
        engine.import_(io.BytesIO(make_rootfs(i)), f"bench/app{i % 50}:v{i}",
                       changes=[f"LABEL index={i}"])
    return engine


def median_wall(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lamina-bench-images-"))
    try:
        root = work / "store"
        started = time.perf_counter()
        engine = build_store(root, args.images)
        print(f"built {args.images} images in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, "LAMINA_ROOT": str(root)}
        # The console script beside this interpreter: a version manager's shim on PATH would
        # add its own start-up to every run.
        script = Path(sys.executable).parent / "lamina"
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lamina"]
        rows = subprocess.run([*cmd, "images", "-q"], env=env, capture_output=True, text=True,
                              check=True).stdout.split()
        assert len(set(rows)) == args.images, f"expected {args.images} images, got {len(rows)}"
        ours = median_wall([*cmd, "images"], args.runs, env)
        print(f"lamina images: median {ours * 1000:.1f} ms over {args.runs} runs "
              f"(goal < 150 ms)")

        podman = shutil.which("podman")
        if podman is None:
            print("podman images: not installed (apt-get install podman); no ratio")
            return
        archive = work / "all.tar"
        names = [f"bench/app{i % 50}:v{i}" for i in range(args.images)]
        with open(archive, "wb") as out:
            engine.save(names, out)
        graph = work / "podman"
        podman_cmd = [podman, "--root", str(graph / "root"), "--runroot", str(graph / "run"),
                      "--storage-driver", "vfs"]
        subprocess.run([*podman_cmd, "load", "-q", "-i", str(archive)], check=True,
                       capture_output=True)
        listed = subprocess.run([*podman_cmd, "images", "--format", "json"], check=True,
                                capture_output=True, text=True).stdout
        print(f"podman holds {len(json.loads(listed))} images")
        theirs = median_wall([*podman_cmd, "images"], args.runs, dict(os.environ))
        print(f"podman images: median {theirs * 1000:.1f} ms over {args.runs} runs")
        print(f"ratio lamina/podman: {ours / theirs:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
