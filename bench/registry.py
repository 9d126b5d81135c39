"""lamina's registry against the CNCF registry (Debian's ``docker-registry``), side by side.

Both run on loopback in the same run, on the same data, and for each figure this prints both
and the ratio (lamina / CNCF; for push time, CNCF / lamina, so above 1 always means lamina is
ahead):

- manifest GETs per second: ``wrk``, 32 connections, with the Accept header docker sends;
- blob GET throughput: ``wrk`` over a 64 MiB blob;
- push time of a 4-layer, 190 MB image with ``skopeo copy`` (each trial on fresh, empty
  registries, so nothing is skipped or mounted).

Usage: ``python bench/registry.py [--workers N] [--duration S] [--rounds N] [--trials N]``. Needs wrk,
skopeo and docker-registry on PATH; access logs are off on both servers.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peers
from peers import cncf_registry as cncf
from peers import free_port, running

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
MiB = 1024 * 1024


@contextmanager
def lamina(root: Path, workers: int) -> Iterator[int]:
    port = free_port()
    config = root.parent / f"{root.name}.toml"
    config.write_text("log_requests = false\n")
    argv = [sys.executable, "-m", "lamina", "registry", "serve", "--root", str(root)]
    argv += ["--addr", f"127.0.0.1:{port}", "--workers", str(workers), "--config", str(config)]
    with running(argv, port):
        yield port


# --------------------------------------------------------------------------- test data


def _layer(data: bytes, name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 1704067200
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_layout(directory: Path, layer_sizes: list[int], tag: str, seed: int) -> None:
    """An OCI layout with one image of random (incompressible) layers of about these sizes."""
    peers.write_layout(directory, [_layer(seed.to_bytes(4, "big") + os.urandom(size),
                                          f"file{i}") for i, size in enumerate(layer_sizes)],
                       tag)


def push(layout: Path, tag: str, port: int, repo: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",  # the bench trusts the images it made itself
            "copy",
            "-q",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{layout}:{tag}",
            f"docker://127.0.0.1:{port}/{repo}:{tag}",
        ],
        check=True,
    )
    return time.perf_counter() - start


def upload_blob(port: int, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    r = conn.getresponse()
    r.read()
    location = r.headers["Location"]
    if location.startswith("http"):
        location = "/" + location.split("/", 3)[3]
    sep = "&" if "?" in location else "?"
    conn.request(
        "PUT",
        f"{location}{sep}digest={digest}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    r = conn.getresponse()
    r.read()
    if r.status != 201:
        raise RuntimeError(f"blob upload answered {r.status}")
    conn.close()
    return digest


# --------------------------------------------------------------------------- measures

_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def wrk(url: str, connections: int, seconds: int, threads: int = 2) -> tuple[float, float, int]:
    """(requests/s, bytes/s, non-2xx responses) of a wrk run."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            f"Accept: {ACCEPT}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    bps = float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, bps, int(bad.group(1)) if bad else 0


def row(name: str, ours: float, theirs: float, unit: str, higher_is_better: bool = True) -> None:
    ratio = ours / theirs if higher_is_better else theirs / ours
    print(f"{name:<28} {ours:>12.1f} {theirs:>12.1f}  {unit:<8} {ratio:>6.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per server (median)")
    parser.add_argument("--trials", type=int, default=3, help="push trials (median)")
    parser.add_argument("--skip-push", action="store_true")
    args = parser.parse_args()
    for tool in ("wrk", "skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/registry.py needs {tool} on PATH")

    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as tmp_:
        tmp = Path(tmp_)
        write_layout(tmp / "small", [4096], "v1", seed=1)
        blob = os.urandom(64 * MiB)
        print(f"lamina workers: {args.workers}; wrk {args.duration}s per figure", flush=True)
        print(f"{'figure':<28} {'lamina':>12} {'cncf':>12}  {'unit':<8} {'ratio':>7}")

        # Both servers run at once and the measures alternate between them, round after
        # round, so that whatever else the machine does weighs on both alike; medians count.
        results: dict[str, dict[str, list[float]]] = {
            "lamina": {"manifest": [], "blob": []},
            "cncf": {"manifest": [], "blob": []},
        }
        with lamina(tmp / "lamina-root", args.workers) as lport, cncf(tmp / "cncf-root") as cport:
            urls = {}
            for name, port in (("lamina", lport), ("cncf", cport)):
                push(tmp / "small", "v1", port, "bench/small")
                digest = upload_blob(port, "bench/blob", blob)
                base = f"http://127.0.0.1:{port}"
                urls[name] = (
                    f"{base}/v2/bench/small/manifests/v1",
                    f"{base}/v2/bench/blob/blobs/{digest}",
                )
                wrk(urls[name][0], 32, 2)  # warm up
            for _ in range(args.rounds):
                for name, (manifest_url, blob_url) in urls.items():
                    rps, _, bad = wrk(manifest_url, 32, args.duration)
                    if bad:
                        sys.exit(f"{name}: {bad} manifest GETs failed")
                    results[name]["manifest"].append(rps)
                    _, bps, bad = wrk(blob_url, 4, args.duration, 1)
                    if bad:
                        sys.exit(f"{name}: {bad} blob GETs failed")
                    results[name]["blob"].append(bps / MiB)
        med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in results.items()}
        row("manifest GET", med["lamina"]["manifest"], med["cncf"]["manifest"], "req/s")
        row("blob GET (64 MiB)", med["lamina"]["blob"], med["cncf"]["blob"], "MiB/s")

        # Start-up: from launch to the first answer on /v2/ (the goal: under a second).
        starts: dict[str, list[float]] = {"lamina": [], "cncf": []}
        for trial in range(3):
            for name, make in (
                ("lamina", lambda t=trial: lamina(tmp / f"start-lamina-{t}", args.workers)),
                ("cncf", lambda t=trial: cncf(tmp / f"start-cncf-{t}")),
            ):
                started = time.perf_counter()
                with make():
                    starts[name].append(time.perf_counter() - started)
        row("start to first answer", statistics.median(starts["lamina"]),
            statistics.median(starts["cncf"]), "s", higher_is_better=False)

        if args.skip_push:
            return
        sizes = [80_000_000, 50_000_000, 35_000_000, 25_000_000]  # 190 MB
        write_layout(tmp / "big", sizes, "v1", seed=2)
        times: dict[str, list[float]] = {"lamina": [], "cncf": []}
        for trial in range(args.trials):
            for name, make in (
                ("lamina", lambda t=trial: lamina(tmp / f"push-lamina-{t}", args.workers)),
                ("cncf", lambda t=trial: cncf(tmp / f"push-cncf-{t}")),
            ):
                with make() as port:
                    times[name].append(push(tmp / "big", "v1", port, "bench/big"))
                shutil.rmtree(tmp / f"push-{name}-{trial}", ignore_errors=True)
        row(
            "push 4 layers 190 MB",
            statistics.median(times["lamina"]),
            statistics.median(times["cncf"]),
            "s",
            higher_is_better=False,
        )


if __name__ == "__main__":
    main()
