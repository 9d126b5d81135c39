"""Several lamina processes on one store at once: no lost tag, no "database is locked"."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path
from typing import Any

from lamina.model.reference import Reference
from lamina.store import Store

from .support import add_image, churn, random_image

PROCESSES = 6


def _run(target: Any, args_list: list[tuple[Any, ...]]) -> None:
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    barrier = ctx.Barrier(len(args_list))

    def wrapped(*args: Any) -> None:
        barrier.wait()
        try:
            target(*args)
        except BaseException:
            errors.put(traceback.format_exc())
            raise

    procs = [ctx.Process(target=wrapped, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert [p.exitcode for p in procs] == [0] * len(procs)


def _tagger(root: str, image_id: str, worker: int, count: int) -> None:
    with Store(root) as store:
        for i in range(count):
            # Each process opens its own transactions; every tag must survive.
            store.tag(image_id, Reference.parse(f"tags/w{worker}:t{i}"))
            store.tag(image_id, Reference.parse("tags/contended:latest"))


def test_parallel_tagging_loses_nothing(tmp_path: Path) -> None:
    import random

    with Store(tmp_path) as store:
        image = add_image(store, random_image(random.Random(1)))
    count = 40
    _run(_tagger, [(str(tmp_path), image.id, w, count) for w in range(PROCESSES)])
    with Store(tmp_path) as store:
        tags = {str(t) for t in store.tags_of(image.id)}
    expected = {f"docker.io/tags/w{w}:t{i}" for w in range(PROCESSES) for i in range(count)}
    assert expected | {"docker.io/tags/contended:latest"} == tags


def test_parallel_adds_deletes_and_gc(tmp_path: Path) -> None:
    rounds = 8
    Store(tmp_path).close()
    _run(
        churn,
        [(str(tmp_path), seed, rounds, False, 4 if seed % 2 else 0) for seed in range(PROCESSES)],
    )
    with Store(tmp_path) as store:
        images = store.images()
        # Every third add was deleted again.
        kept = rounds - rounds // 3
        assert len(images) == PROCESSES * kept
        names = {str(t) for i in images for t in i.tags}
        for seed in range(PROCESSES):
            for r in range(rounds):
                name = f"docker.io/churn/p{seed}:r{r}"
                assert (name in names) == (r % 3 != 2)
        # gc ran while others were adding: nothing recorded may have lost its files.
        for image in images:
            assert store.blobs.has(image.id) and store.blobs.has(image.manifest_digest)
            for layer in image.layers:
                assert store.blobs.has(layer.digest)
                assert store.snapshots.has(layer.chain_id)
        store.gc()
        assert {d for d in store.blobs.digests()} == {
            d
            for i in images
            for d in [i.id, i.manifest_digest, *(layer.digest for layer in i.layers)]
        }


def test_gc_waits_for_an_adder(tmp_path: Path) -> None:
    # A process adding (between ingesting and recording) keeps gc from its files.
    with Store(tmp_path) as adder, Store(tmp_path) as collector:
        with adder.adding() as tx:
            digest = tx.put_blob(b"not yet recorded")
            assert collector.gc(wait=0.2) == 0
            assert adder.blobs.has(digest)
        assert collector.gc(wait=0.2) == len(b"not yet recorded")
        assert not adder.blobs.has(digest)


def test_threads_sharing_one_store(tmp_path: Path) -> None:
    import random
    import threading

    errors: list[BaseException] = []
    with Store(tmp_path) as store:
        image = add_image(store, random_image(random.Random(2)))

        def work(worker: int) -> None:
            try:
                for i in range(30):
                    with store.transaction():
                        store.tag(image.id, Reference.parse(f"threads/w{worker}:a{i}"))
                        store.tag(image.id, Reference.parse(f"threads/w{worker}:b{i}"))
                    store.resolve(f"threads/w{worker}:a{i}")
            except BaseException as err:  # re-checked below
                errors.append(err)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(store.tags_of(image.id)) == 4 * 30 * 2
