"""The official OCI Distribution Spec conformance suite, against lamina in the three setups a
deployment can have: the embedded default (SQLite and a directory), one replica on PostgreSQL
and S3 (SeaweedFS), and three replicas behind HAProxy, round robin with no stickiness, so that
one upload is started on one replica and continued or finished on another."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from .cluster import PostgresCluster, SeaweedFS, lamina_cluster
from .servers import lamina_server

pytestmark = [pytest.mark.peer, pytest.mark.slow]


def _suite() -> Path | None:
    """``shared/tools/oci-conformance/run`` beside the checkout (or an ancestor of it)."""
    explicit = os.environ.get("LAMINA_OCI_CONFORMANCE")
    if explicit:
        return Path(explicit)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "tools" / "oci-conformance" / "run"
        if candidate.exists():
            return candidate
    return None


SUITE = _suite()
needs_suite = pytest.mark.skipif(SUITE is None, reason="the OCI conformance suite is not here")


def run_suite(host: str, results: Path) -> tuple[int, list[str]]:
    """Run the suite against ``host``; (tests passed, names of the failures)."""
    assert SUITE is not None
    proc = subprocess.run(
        [str(SUITE), host, str(results)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OCI_DEBUG": "false"},
    )
    summary = re.search(r"(\d+) passed, (\d+) failed", proc.stdout)
    junit = results / "junit.xml"
    assert summary and junit.exists(), proc.stdout + proc.stderr
    failed = [
        case.get("name", "?")
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    if int(summary[2]) and not failed:
        failed = [proc.stdout.strip()]
    return int(summary[1]), failed


@needs_suite
def test_embedded_default(tmp_path: Path) -> None:
    with lamina_server(tmp_path / "root") as server:
        server.start(tmp_path / "log")
        passed, failed = run_suite(server.host, tmp_path / "results")
    assert failed == [] and passed > 800


@needs_suite
def test_one_replica_on_postgres_and_s3(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS
) -> None:
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    with lamina_cluster(tmp_path, dsn, seaweed.endpoint, bucket, replicas=1) as (_, servers):
        passed, failed = run_suite(servers[0].host, tmp_path / "results")
    assert failed == [] and passed > 800


@needs_suite
def test_three_replicas_behind_haproxy(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS
) -> None:
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    with lamina_cluster(tmp_path, dsn, seaweed.endpoint, bucket, replicas=3) as (proxy, servers):
        assert proxy is not None
        passed, failed = run_suite(proxy.host, tmp_path / "results")
    assert failed == [] and passed > 800
    # Every replica served the suite, and upload sessions crossed replicas.
    sessions: dict[str, set[int]] = defaultdict(set)
    served = [0, 0, 0]
    for i, server in enumerate(servers):
        assert server.log_path is not None
        for line in server.log_path.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("route") == "/v2/{name}/blobs/uploads/{uuid}":
                sessions[entry["path"].rsplit("/", 1)[-1]].add(i)
            served[i] += 1
    assert all(n > 100 for n in served), served
    assert sum(len(replicas) > 1 for replicas in sessions.values()) > 5
