"""`lamina build` of a 6-step Dockerfile, cold and fully cached, against `podman build` (or
`buildah bud`) of the same Dockerfile and context, in the same run.

The base image is a one-layer busybox rootfs (the host's static busybox), imported into lamina
and loaded into podman from one `lamina save` archive. Cold: every run with --no-cache. Cached:
the same build again, every step a cache hit. Prints each median and the ratios. The goals:
a cached rebuild under 0.3 s, and a cold build faster than podman's.

    python bench/build.py [--runs 7] [--files 200]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

DOCKERFILE = """\
FROM busybox:bench
ENV APP=/srv/app
COPY src/ $APP/src/
RUN echo built > $APP/built.txt && rm -f /etc/group
WORKDIR $APP
CMD ["sh"]
"""


def busybox_rootfs() -> bytes:
    buf = io.BytesIO()
    busybox = Path(shutil.which("busybox") or "/bin/busybox").read_bytes()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname = kind, mode, link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "srv"):
            add(d, tarfile.DIRTYPE, 0o755)
        add("bin/busybox", tarfile.REGTYPE, 0o755, busybox)
        for applet in ("sh", "echo", "rm", "cat", "ls"):
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\n")
    return buf.getvalue()


def make_context(ctx: Path, files: int) -> None:
    (ctx / "src").mkdir(parents=True)
    for i in range(files):
        sub = ctx / "src" / f"pkg{i % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"module{i}.py").write_text(f"# module {i}\n" + "x = 1\n" * 50)
    (ctx / "Dockerfile").write_text(DOCKERFILE)


def timed(cmd: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
        times.append(elapsed)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/build.py: RUN steps need root (runc)")

    work = Path(tempfile.mkdtemp(prefix="lamina-bench-build-"))
    try:
        ctx = work / "ctx"
        make_context(ctx, args.files)
        rootfs = work / "busybox.tar"
        rootfs.write_bytes(busybox_rootfs())
        env = {**os.environ, "LAMINA_ROOT": str(work / "store")}
        script = Path(sys.executable).parent / "lamina"
        lamina = [str(script)] if script.exists() else [sys.executable, "-m", "lamina"]
        subprocess.run([*lamina, "import", str(rootfs), "busybox:bench"], env=env, check=True,
                       capture_output=True)
        archive = work / "busybox-archive.tar"
        subprocess.run([*lamina, "save", "-o", str(archive), "busybox:bench"], env=env,
                       check=True)

        build = [*lamina, "build", "-q", "-t", "bench:latest", str(ctx)]
        cold = timed([*build[:2], "--no-cache", *build[2:]], env, args.runs)
        timed(build, env, 1)
        cached = timed(build, env, args.runs)
        print(f"lamina build  cold: median {cold:.3f} s   cached: median {cached:.3f} s "
              f"(goal < 0.300 s) over {args.runs} runs")

        peer = shutil.which("podman") or shutil.which("buildah")
        if peer is None:
            print("podman/buildah not installed: no comparison")
            return
        name = Path(peer).name
        storage = ["--storage-driver", "vfs", "--root", str(work / "peer-root"),
                   "--runroot", str(work / "peer-run")]
        if name == "podman":
            base = [peer, *storage, "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
            subprocess.run([*base, "load", "-q", "-i", str(archive)], check=True,
                           capture_output=True)
            peer_build = [*base, "build", "--isolation", "chroot", "-q", "--layers", "-t",
                          "bench:latest", str(ctx)]
        else:
            base = [peer, *storage]
            subprocess.run([*base, "pull", "-q", f"docker-archive:{archive}"], check=True,
                           capture_output=True)
            subprocess.run([*base, "tag", "busybox:bench", "busybox:bench"], check=False,
                           capture_output=True)
            peer_build = [*base, "bud", "--isolation", "chroot", "-q", "--layers", "-t",
                          "bench:latest", str(ctx)]
        insert = peer_build.index("-q")
        peer_cold = timed([*peer_build[:insert], "--no-cache", *peer_build[insert:]],
                          os.environ.copy(), args.runs)
        timed(peer_build, os.environ.copy(), 1)
        peer_cached = timed(peer_build, os.environ.copy(), args.runs)
        print(f"{name} build  cold: median {peer_cold:.3f} s   cached: median "
              f"{peer_cached:.3f} s over {args.runs} runs")
        print(f"ratio lamina/{name}: cold {cold / peer_cold:.2f}   cached "
              f"{cached / peer_cached:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
