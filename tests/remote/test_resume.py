"""A pull killed in the middle of a layer resumes it with a Range request, not from the start."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.images import make_image
from lamina.engine.pull import pull
from lamina.model.digest import Digest
from lamina.remote.options import RemoteOptions
from lamina.store import Store

from .fakeregistry import FakeRegistry

pytestmark = pytest.mark.slow


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake


def test_killed_pull_resumes_the_partial_layer(tmp_path: Path, registry: FakeRegistry,
                                               options: RemoteOptions) -> None:
    noise = random.Random(7).randbytes(4 * 1024 * 1024)  # incompressible: the blob is big
    image = make_image([{"small": b"s"}, {"big/noise": noise}])
    registry.add_image("slow/image", "1", image)
    big = image.layer_digests[1]
    size = len(image.blobs[big])
    registry.throttle = 0.02  # 64 KiB per 20 ms: about 1.3 s for the big layer
    root = tmp_path / "store"
    env = dict(os.environ, LAMINA_ROOT=str(root))
    proc = subprocess.Popen([sys.executable, "-m", "lamina", "pull", "-q",
                             f"{registry.host}/slow/image:1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = root / "tmp" / f"partial-sha256-{big[7:]}"
    deadline = time.monotonic() + 30
    try:
        while not (partial.exists() and partial.stat().st_size >= size // 4):
            assert proc.poll() is None, "the pull ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    kept = partial.stat().st_size
    assert 0 < kept < size

    registry.throttle = 0
    registry.requests.clear()
    with Store(root) as store:
        [result] = pull(store, f"{registry.host}/slow/image:1", options)
        assert result.image_id == image.config_digest
        assert store.blobs.verify(Digest(big))
        assert store.audit() == []
    gets = [r for r in registry.blob_requests() if r.path.endswith(big)]
    assert [r.headers.get("range") for r in gets] == [f"bytes={kept}-"]
    assert not partial.exists()


def test_a_second_pull_of_the_same_blob_does_not_share_the_partial(
        tmp_path: Path, registry: FakeRegistry, options: RemoteOptions) -> None:
    """While one process holds the partial file's lock, another downloads into its own."""
    import fcntl

    image = make_image([{"f": b"f" * 1000}])
    registry.add_image("lock/image", "1", image)
    with Store(tmp_path / "store") as store:
        digest = image.layer_digests[0]
        partial = store.root / "tmp" / f"partial-sha256-{digest[7:]}"
        partial.write_bytes(b"junk")
        fd = os.open(partial, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            [result] = pull(store, f"{registry.host}/lock/image:1", options)
            assert result.image_id == image.config_digest
            assert partial.read_bytes() == b"junk"  # not touched: someone else's
        finally:
            os.close(fd)
        gets = [r for r in registry.blob_requests() if r.path.endswith(digest)]
        assert [r.headers.get("range") for r in gets] == [None]


def test_a_corrupt_partial_is_dropped_and_downloaded_again(
        tmp_path: Path, registry: FakeRegistry, options: RemoteOptions) -> None:
    image = make_image([{"f": random.Random(1).randbytes(200_000)}])
    registry.add_image("bad/partial", "1", image)
    digest = image.layer_digests[0]
    with Store(tmp_path / "store") as store:
        partial = store.root / "tmp" / f"partial-sha256-{digest[7:]}"
        partial.write_bytes(b"not the start of this blob" * 100)
        [result] = pull(store, f"{registry.host}/bad/partial:1", options)
        assert result.image_id == image.config_digest
        assert not partial.exists()
    gets = [r for r in registry.blob_requests() if r.path.endswith(digest)]
    assert [r.headers.get("range") for r in gets] == ["bytes=2600-", None]


@pytest.mark.parametrize("limit", [3, 1])
def test_layers_download_in_parallel_up_to_the_limit(tmp_path: Path, registry: FakeRegistry,
                                                     limit: int) -> None:
    image = make_image([{f"l{i}": random.Random(i).randbytes(300_000)} for i in range(5)])
    registry.add_image("par/image", "1", image)
    registry.throttle = 0.01
    options = RemoteOptions(retries=1, backoff=0.01, certs_dirs=(),
                            max_concurrent_downloads=limit)
    with Store(tmp_path / "store") as store:
        [result] = pull(store, f"{registry.host}/par/image:1", options)
        assert result.image_id == image.config_digest
    assert registry.max_active_blob_gets == limit
