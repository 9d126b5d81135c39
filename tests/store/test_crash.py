"""kill -9 at random points while adding, deleting and collecting: the store stays sound."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lamina.store import Store

TESTS = Path(__file__).resolve().parents[1]
WORKER = (
    "import sys; sys.path.insert(0, sys.argv[1]);"
    "from store.support import churn;"
    "churn(sys.argv[2], int(sys.argv[3]), 10**6, True, 2, ready=True)"
)
KILLS = 20


def check_store(root: Path) -> None:
    with Store(root) as store:
        # Opening removed what the killed process left in tmp/.
        assert os.listdir(root / "tmp") == []
        # Every blob is whole, every snapshot complete, every image found with all its files.
        assert store.audit() == []
        # Every snapshot in place is complete.
        for chain_id in store.snapshots.chain_ids():
            assert store.snapshots.meta(chain_id)["chain_id"] == chain_id
            assert store.snapshots.path(chain_id).is_dir()
        images = store.images()
        for image in images:
            assert store.resolve(image.id).id == image.id
            for tag in image.tags:
                assert store.resolve(str(tag)).id == image.id
            assert store.blobs.has(image.id) and store.blobs.has(image.manifest_digest)
            for layer in image.layers:
                assert store.blobs.has(layer.digest)
                assert store.snapshots.has(layer.chain_id)
        store.gc(wait=5)
        kept = {
            d
            for i in images
            for d in [i.id, i.manifest_digest, *(layer.digest for layer in i.layers)]
        }
        assert set(store.blobs.digests()) == kept
        assert set(store.snapshots.chain_ids()) == {
            layer.chain_id for i in images for layer in i.layers
        }
        assert store.images() == images
        # No lamina process is alive: the holds killed ones left (lamina.store.holds) are
        # stale, and go at the first look.
        assert store.held_images() == set()
        assert store.db.read(lambda c: c.execute("SELECT count(*) FROM holds").fetchone()) \
            == (0,)


@pytest.mark.slow
def test_kill_at_random_points(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    root = tmp_path / "store"
    Store(root).close()  # so the kill windows fall on adding, not on creating
    total_images = leftovers = 0
    for attempt in range(KILLS):
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(TESTS), str(root), str(attempt)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # The kill window starts once the worker has its store open: on a loaded machine the
        # interpreter's start-up alone can take longer than the whole window.
        assert worker.stdout is not None
        worker.stdout.readline()
        time.sleep(rng.uniform(0.2, 1.0))
        if worker.poll() is not None:
            _, err = worker.communicate()
            pytest.fail(f"worker {attempt} died on its own: {err.decode()[-2000:]}")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        leftovers += bool(os.listdir(root / "tmp"))
        check_store(root)
        with Store(root) as store:
            total_images = len(store.images())
    assert total_images > 0, "no worker got as far as adding an image"
    print(f"{leftovers} of {KILLS} kills left files in tmp/")
