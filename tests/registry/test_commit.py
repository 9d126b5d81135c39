"""Committing a blob on PostgreSQL and S3: the running hash travels with the upload, so the
replica that commits never reads the bytes back, and a huge commit leaves other pushes alone."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lamina.registry.app import create_app
from lamina.registry.serve import config_from_mapping
from lamina.registry.service import Registry
from lamina.registry.storage.s3 import PART_SIZE

from .cluster import S3_KEY, S3_SECRET, PostgresCluster, SeaweedFS, lamina_cluster
from .conformance import error_codes, http_client, push_blob, sha256
from .s3_gate import S3Gate, is_complete_multipart

pytestmark = pytest.mark.peer


class Replica:
    """One replica in this process: its own Registry (no memory shared with the others) on
    the shared database and bucket, with every S3 request it makes counted."""

    def __init__(self, root: Path, backends: dict[str, Any]) -> None:
        config = config_from_mapping({"root": str(root), "log_requests": False, **backends})
        self.registry = Registry(config)
        self.client = TestClient(create_app(config, registry=self.registry))
        self.requests: list[tuple[str, str]] = []  # (operation, key)
        events = self.registry.storage.client.meta.events  # type: ignore[attr-defined]
        events.register("before-call.s3", self._count)

    def _count(self, model: Any, params: Any, **_: Any) -> None:
        self.requests.append((model.name, params.get("url_path", "")))


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, seaweed: SeaweedFS
) -> Iterator[list[Replica]]:
    """Three replicas shared by the tests of this module (each uses its own repository)."""
    tmp_path = tmp_path_factory.mktemp("replicas")
    backends = {
        "metadata": {"kind": "postgres", "dsn": postgres.create_database()},
        "storage": {
            "driver": "s3",
            "endpoint": seaweed.endpoint,
            "bucket": seaweed.create_bucket(),
            "access_key": S3_KEY,
            "secret_key": S3_SECRET,
        },
    }
    made = [Replica(tmp_path / f"r{i}", backends) for i in range(3)]
    yield made
    for replica in made:
        replica.client.close()
        replica.registry.close()


def _chunked_over(replicas: list[Replica], repo: str, chunks: list[bytes]) -> str:
    """Start an upload on the first replica and send chunk i to replica i (round robin);
    the upload's URL, ready for the committing PUT. Counting starts afresh."""
    for rep in replicas:
        rep.requests.clear()
    r = replicas[0].client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location, offset = r.headers["location"], 0
    for i, chunk in enumerate(chunks):
        headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
        r = replicas[i % len(replicas)].client.patch(location, content=chunk, headers=headers)
        assert r.status_code == 202, r.text
        offset += len(chunk)
        location = r.headers["location"]
    return location


def _gets(replicas: list[Replica]) -> list[tuple[str, str]]:
    return [req for rep in replicas for req in rep.requests if req[0] == "GetObject"]


def test_a_chunked_upload_over_replicas_commits_without_reading_back(
    replicas: list[Replica],
) -> None:
    # A full part and a tail on the first replica, more on the second, a last small piece on
    # the third: the multipart upload and a tail are carried across replicas.
    chunks = [os.urandom(PART_SIZE + 4096), os.urandom(3 << 20), os.urandom(777)]
    data = b"".join(chunks)
    digest = sha256(data)
    location = _chunked_over(replicas, "spread", chunks)
    # Between chunks, a replica reads back at most the tail (less than a part), never the
    # blob's object.
    assert all("/objects/" not in key for _op, key in _gets(replicas))
    for rep in replicas:
        rep.requests.clear()
    r = replicas[0].client.put(f"{location}?digest={digest}")
    assert r.status_code == 201, r.text
    assert r.headers["docker-content-digest"] == digest
    # The commit was the store's work alone: no byte of the blob came back to a replica.
    assert _gets(replicas) == []
    assert any(op == "CompleteMultipartUpload" for op, _key in replicas[0].requests)
    pulled = replicas[1].client.get(f"/v2/spread/blobs/{digest}")
    assert pulled.status_code == 200 and hashlib.sha256(pulled.content).hexdigest() == digest[7:]


def test_a_small_chunked_upload_commits_by_a_copy_in_the_store(replicas: list[Replica]) -> None:
    chunks = [b"first piece, ", b"second piece, ", b"and the last"]
    digest = sha256(b"".join(chunks))
    location = _chunked_over(replicas, "small", chunks)
    for rep in replicas:
        rep.requests.clear()
    r = replicas[0].client.put(f"{location}?digest={digest}")
    assert r.status_code == 201, r.text
    assert _gets(replicas) == []
    assert replicas[2].client.get(f"/v2/small/blobs/{digest}").content == b"".join(chunks)


def test_a_wrong_digest_is_refused_without_reading_back(replicas: list[Replica]) -> None:
    chunks = [os.urandom(PART_SIZE + 1), os.urandom(1000)]
    location = _chunked_over(replicas, "wrong", chunks)
    claimed = sha256(b"something else")
    for rep in replicas:
        rep.requests.clear()
    r = replicas[1].client.put(f"{location}?digest={claimed}")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    assert _gets(replicas) == []
    real = sha256(b"".join(chunks))
    for digest in (claimed, real):
        assert replicas[2].client.head(f"/v2/wrong/blobs/{digest}").status_code == 404
    # The session ended with its refusal, and its parts with it.
    assert replicas[0].client.get(location).status_code == 404


def _blocks(size: int, block: int) -> Iterator[tuple[int, bytes]]:
    """``size`` bytes made block by block (one in memory at a time), each unlike the others."""
    sent = 0
    while sent < size:
        piece = hashlib.sha256(sent.to_bytes(8, "big")).digest() * (block // 32)
        piece = piece[: min(block, size - sent)]
        yield sent, piece
        sent += len(piece)


def _digest_of(size: int, block: int) -> str:
    hasher = hashlib.sha256()
    for _offset, piece in _blocks(size, block):
        hasher.update(piece)
    return hasher.hexdigest()


def _stream(size: int, block: int, hold: dict[int, threading.Event]) -> Iterator[bytes]:
    """The bytes of ``_blocks``; before the block at each offset in ``hold``, wait until its
    event is set."""
    for offset, piece in _blocks(size, block):
        if offset in hold:
            assert hold[offset].wait(300), "the other pushes did not complete"
        yield piece


@pytest.mark.slow
def test_a_1gib_commit_does_not_stall_other_writers(
    tmp_path: Path, postgres: PostgresCluster, seaweed: SeaweedFS
) -> None:
    """A 1 GiB blob is committed through one single-worker replica (the closing PUT carries
    all its bytes) while other pushes go on to the same replica. At three points of that
    request its sender waits until a round of small pushes has completed; then, once every
    byte is in, the replica's CompleteMultipartUpload is held at the store (a pass-through
    proxy before SeaweedFS) until a last round has completed. The big commit can only finish
    if the others complete while it is in flight, body and commit alike."""
    size, block = 1 << 30, 1 << 20
    holds = {0: threading.Event(), size // 2: threading.Event(), size - block: threading.Event()}
    dsn, bucket = postgres.create_database(), seaweed.create_bucket()
    with (
        S3Gate(seaweed.endpoint, is_complete_multipart) as gate,
        lamina_cluster(tmp_path, dsn, gate.endpoint, bucket, replicas=1) as (_, servers),
    ):
        url = servers[0].url
        digest = f"sha256:{_digest_of(size, block)}"
        result: dict[str, Any] = {}
        with http_client(url) as client:
            r = client.post("/v2/big/blobs/uploads/")
            assert r.status_code == 202, r.text
            location = r.headers["location"]

        def push_big() -> None:
            with http_client(url) as client:
                client.timeout = None  # type: ignore[assignment]
                # The digest must be in the URL before the bytes are made: the registry
                # checks it against its running hash, so it is computed in a first pass.
                r = client.put(f"{location}?digest={digest}", content=_stream(size, block, holds))
                result["put"] = (r.status_code, r.text)

        sender = threading.Thread(target=push_big)
        sender.start()
        pushed: list[str] = []

        def small_round(label: str) -> None:
            with http_client(url) as client:
                for i in range(3):
                    data = f"{label} {i} ".encode() + os.urandom(64 << 10)
                    pushed.append(push_blob(client, f"small/{i}", data))

        try:
            for offset in sorted(holds):
                small_round(str(offset))
                assert sender.is_alive(), "the big upload ended before the small pushes"
                holds[offset].set()
            # Every byte sent: the commit reaches the store, and stays there for a while.
            assert gate.arrived.wait(300), "the commit never reached the store"
            small_round("commit")
            assert sender.is_alive() and "put" not in result
            assert gate.held == 1  # the small pushes committed without a multipart upload
        finally:
            for event in holds.values():
                event.set()
            gate.release()
            sender.join(600)
        assert result.get("put", (0,))[0] == 201, result
        with http_client(url) as client:
            head = client.head(f"/v2/big/blobs/{digest}")
            assert head.status_code == 200 and int(head.headers["content-length"]) == size
            for i, digest in enumerate(pushed):
                assert client.head(f"/v2/small/{i % 3}/blobs/{digest}").status_code == 200
