"""Adding test images to a store as the engine does: one ``store.adding()`` transaction."""

from __future__ import annotations

import random
from collections.abc import Sequence

from helpers.images import BuiltImage, make_image
from lamina.model.chain import chain_ids
from lamina.model.config import ImageConfig
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest
from lamina.model.reference import Reference
from lamina.store import ImageRecord, LayerRecord, Store


def add_image(
    store: Store, image: BuiltImage, tags: Sequence[str] = (), parent: Digest | None = None
) -> ImageRecord:
    config = ImageConfig.parse(image.config)
    manifest = Manifest.parse(image.manifest)
    with store.adding() as tx:
        for digest, data in image.blobs.items():
            tx.put_blob(data, Digest.parse(digest))
        layers = []
        for desc, diff_id, chain_id in zip(
            manifest.layers, config.diff_ids, chain_ids(config.diff_ids), strict=True
        ):
            layers.append(tx.unpack_blob(
                LayerRecord(diff_id, chain_id, desc.digest, desc.media_type, desc.size, 0)))
        record = tx.record(config, manifest, layers, parent=parent)
    for tag in tags:
        store.tag(record.id, Reference.parse(tag))
    return store.image(record.id) if tags else record


def random_image(rng: random.Random, big: bool = False) -> BuiltImage:
    """An image with a base layer shared by all, and one or two layers of its own."""
    base = {"etc/base": b"base layer\n"}
    own = {f"data/{rng.getrandbits(64):x}": rng.randbytes(rng.randrange(1, 4096))}
    layers: list[dict[str, bytes]] = [base, own]
    if big:
        layers.append({"big/blob": rng.randbytes(rng.randrange(1 << 20, 3 << 20))})
    return make_image(layers, {"config": {"Labels": {"seed": str(rng.getrandbits(32))}}})


def churn(
    root: str, seed: int, rounds: int, big: bool = False, gc_every: int = 0, ready: bool = False
) -> None:
    """Add, tag, retag, delete and collect images in a loop, as a busy user would.

    With ``ready``, a line on stdout says the store is open (a killer times its kill from it).
    """
    rng = random.Random(seed)
    with Store(root) as store:
        if ready:
            print("ready", flush=True)
        for i in range(rounds):
            record = add_image(store, random_image(rng, big), [f"churn/p{seed}:r{i}"])
            store.tag(record.id, Reference.parse("churn/shared:latest"))
            store.add_repo_digest(record.id, f"churn/p{seed}", record.manifest_digest)
            if i % 3 == 2:
                store.untag(Reference.parse(f"churn/p{seed}:r{i}"))
                store.delete_image(record.id)
            if gc_every and i % gc_every == gc_every - 1:
                store.gc()
