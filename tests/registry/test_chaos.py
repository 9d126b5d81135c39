"""Faults in a registry cluster: replicas killed with SIGKILL while pushes go through HAProxy and
GC runs; PostgreSQL's connections killed and SeaweedFS restarted under load.

What must hold: every push reported successful pulls back complete; an interrupted push, tried
again, succeeds; GC removes nothing a tag reaches; a request caught by a fault gets a 5xx (or
its connection drops), never a wrong answer; replicas recover without being restarted.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from helpers.images import make_image
from lamina.registry.gc import GCReport, collect_garbage
from lamina.registry.metadata import PostgresMetadata
from lamina.registry.storage.s3 import S3Driver

from .cluster import S3_KEY, S3_SECRET, PostgresCluster, SeaweedFS, lamina_cluster
from .conformance import ACCEPT_ALL, pull_complete, sha256
from .servers import Server

pytestmark = [pytest.mark.peer, pytest.mark.slow]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
KILLS = 4


def chunked_push(client: httpx.Client, repo: str, image: object, tag: str) -> None:
    """Push like a careful client: blobs in two PATCH chunks each (so a session crosses
    replicas), then the manifest. Raises on any failure."""
    for digest, data in image.blobs.items():  # type: ignore[attr-defined]
        if client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
            continue
        r = client.post(f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.status_code
        location = r.headers["location"]
        half = len(data) // 2
        for start, piece in ((0, data[:half]), (half, data[half:])):
            if not piece:
                continue
            r = client.patch(
                location,
                content=piece,
                headers={"Content-Range": f"{start}-{start + len(piece) - 1}"},
            )
            assert r.status_code == 202, r.status_code
            location = r.headers["location"]
        r = client.put(location, params={"digest": digest})
        assert r.status_code == 201, r.status_code
    r = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=image.manifest,  # type: ignore[attr-defined]
        headers={"Content-Type": image.media_type},  # type: ignore[attr-defined]
    )
    assert r.status_code == 201, r.status_code


def restart(server: Server) -> None:
    server.start(server.log_path)


def dbname(dsn: str) -> str:
    return dict(part.split("=", 1) for part in dsn.split())["dbname"]


def test_kill_9_replicas_during_pushes_with_gc(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS
) -> None:
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    grace = 3
    rng = random.Random(20261207)
    base = {"base/layer": os.urandom(300_000)}
    with lamina_cluster(
        tmp_path, dsn, seaweed.endpoint, bucket, replicas=3, gc_grace_seconds=grace
    ) as (proxy, servers):
        assert proxy is not None
        stop = threading.Event()
        failures: list[BaseException] = []
        tagged: dict[str, str] = {}  # repo:tag -> manifest digest, for pushes that succeeded
        retried = [0]
        kills = [0]
        reports: list[GCReport] = []

        def guarded(fn: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    fn()
                except BaseException as exc:
                    failures.append(exc)

            return run

        def pusher(name: str) -> None:
            with httpx.Client(base_url=proxy.url, timeout=30) as client:
                i = 0
                while not stop.is_set() or i < 6:
                    image = make_image([base, {f"{name}/{i}": os.urandom(150_000)}])
                    tag = f"t{i}"
                    for _attempt in range(30):
                        try:
                            chunked_push(client, f"chaos/{name}", image, tag)
                            break
                        except (AssertionError, httpx.HTTPError):
                            retried[0] += 1  # interrupted: push it all again
                            time.sleep(0.2)
                    else:
                        raise AssertionError(f"{name}:{tag} never pushed after 30 tries")
                    tagged[f"{name}:{tag}"] = image.manifest_digest
                    if i % 3 == 2:  # untag some, so GC has real work meanwhile
                        with contextlib.suppress(httpx.HTTPError):  # a replica died: keep it
                            r = client.delete(f"/v2/chaos/{name}/manifests/{tag}")
                            if r.status_code == 202:
                                del tagged[f"{name}:{tag}"]
                    i += 1

        def killer() -> None:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.5, 1.5))
                victim = rng.choice(servers)
                assert victim.proc is not None
                os.killpg(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait()
                kills[0] += 1
                restart(victim)

        def collector() -> None:
            metadata = PostgresMetadata(dsn, max_connections=2)
            storage = S3Driver(
                bucket=bucket, endpoint=seaweed.endpoint, access_key=S3_KEY, secret_key=S3_SECRET
            )
            try:
                while not stop.wait(0.3):
                    reports.append(
                        collect_garbage(
                            metadata, storage, grace_seconds=grace, delete_untagged=True
                        )
                    )
            finally:
                metadata.close()

        kill_thread = threading.Thread(target=guarded(killer))
        threads = [kill_thread, threading.Thread(target=guarded(collector))]
        threads += [
            threading.Thread(target=guarded(lambda n=n: pusher(n)))  # type: ignore[misc]
            for n in ("a", "b", "c")
        ]
        for t in threads:
            t.start()
        kill_thread.join(300)  # pushes go on all through the kills, and a little after
        stop.set()
        for t in threads:
            t.join(300)
        assert not failures, failures
        assert kills[0] == KILLS and len(tagged) >= 12
        # Let GC run well past the grace period of everything: what is tagged stays whole.
        time.sleep(grace + 1)
        metadata = PostgresMetadata(dsn, max_connections=2)
        storage = S3Driver(
            bucket=bucket, endpoint=seaweed.endpoint, access_key=S3_KEY, secret_key=S3_SECRET
        )
        final = collect_garbage(metadata, storage, grace_seconds=grace, delete_untagged=True)
        metadata.close()
        removed = sum(len(r.manifests) for r in [*reports, final])
        assert removed > 0, [r.summary() for r in reports]
        with httpx.Client(base_url=proxy.url, timeout=30) as client:
            for key, digest in tagged.items():
                name, tag = key.split(":")
                pull_complete(client, f"chaos/{name}", tag, ACCEPT_ALL)
                r = client.get(f"/v2/chaos/{name}/manifests/{tag}", headers=ACCEPT_ALL)
                assert r.headers["docker-content-digest"] == digest


def test_database_and_object_store_faults_are_503s_and_replicas_recover(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS
) -> None:
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    with lamina_cluster(tmp_path, dsn, seaweed.endpoint, bucket, replicas=2) as (proxy, _):
        assert proxy is not None
        image = make_image([{"fixed": os.urandom(200_000)}])
        with httpx.Client(base_url=proxy.url, timeout=30) as client:
            chunked_push(client, "faults/app", image, "v1")
        stop = threading.Event()
        wrong: list[str] = []
        statuses: dict[int, int] = {}

        def reader() -> None:
            with httpx.Client(base_url=proxy.url, timeout=30) as client:
                while not stop.is_set():
                    try:
                        r = client.get("/v2/faults/app/manifests/v1", headers=ACCEPT_ALL)
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        if r.status_code == 200:
                            if sha256(r.content) != image.manifest_digest:
                                wrong.append("manifest bytes")
                            layer = json.loads(r.content)["layers"][0]["digest"]
                            b = client.get(f"/v2/faults/app/blobs/{layer}")
                            statuses[b.status_code] = statuses.get(b.status_code, 0) + 1
                            if b.status_code == 200 and sha256(b.content) != layer:
                                wrong.append("blob bytes")
                            elif b.status_code < 500 and b.status_code != 200:
                                wrong.append(f"blob {b.status_code}")
                        elif r.status_code < 500:
                            wrong.append(f"manifest {r.status_code}")
                    except httpx.HTTPError:
                        statuses[0] = statuses.get(0, 0) + 1  # a dropped connection

        def writer() -> None:
            with httpx.Client(base_url=proxy.url, timeout=30) as client:
                i = 0
                while not stop.is_set():
                    with contextlib.suppress(AssertionError, httpx.HTTPError):
                        chunked_push(
                            client, "faults/w", make_image([{f"{i}": os.urandom(50_000)}]), f"t{i}"
                        )
                    i += 1

        threads = [threading.Thread(target=reader) for _ in range(2)] + [
            threading.Thread(target=writer)
        ]
        for t in threads:
            t.start()
        try:
            # Faults only once reads are seen to succeed (however loaded the machine is).
            deadline = time.monotonic() + 60
            while not statuses.get(200) and time.monotonic() < deadline:
                time.sleep(0.1)
            for _ in range(3):
                postgres.terminate_backends(dbname(dsn))
                time.sleep(0.5)
            seaweed.restart()
            time.sleep(1)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert wrong == [], (wrong, statuses)
        assert statuses.get(200, 0) > 0
        # The same replicas, not restarted, serve pushes and pulls again.
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=proxy.url, timeout=30) as client:
            again = make_image([{"after": os.urandom(100_000)}])
            while True:
                try:
                    chunked_push(client, "faults/after", again, "v1")
                    pull_complete(client, "faults/after", "v1", ACCEPT_ALL)
                    pull_complete(client, "faults/app", "v1", ACCEPT_ALL)
                    break
                except (AssertionError, httpx.HTTPError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
