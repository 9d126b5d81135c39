"""Every prune, for every filter it accepts: what the filters select goes, and the rest survives.

``container prune --filter`` once dropped its filters and removed every stopped container; these
tests pin that what should survive does survive, for ``until`` (a duration, a Unix time, an
RFC 3339 date), ``label`` and ``label!`` (a key, or key=value), alone and together.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lamina.engine import Engine, Settings

from .conftest import Result, Run


def image_ids(lamina: Run) -> set[str]:
    return set(lamina("images", "-a", "-q", "--no-trunc").out.split())


def container_names(lamina: Run) -> set[str]:
    return set(lamina("ps", "-a", "--format", "{{.Names}}").out.split())


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


# --- image prune -------------------------------------------------------------------------------

@pytest.fixture
def labelled_images(load_image):  # type: ignore[no-untyped-def]
    """Four dangling images: old/new by creation date, crossed with labels tier=a/tier=b."""
    made = {}
    for name, created, tier in (("old_a", "2020-01-01T00:00:00Z", "a"),
                                ("old_b", "2020-01-02T00:00:00Z", "b"),
                                ("new_a", "2099-01-01T00:00:00Z", "a"),
                                ("new_b", "2099-01-02T00:00:00Z", "b")):
        made[name] = load_image([{name: name.encode()}], config={
            "config": {"Labels": {"tier": tier, name: ""}}, "created": created,
        }).config_digest
    return made


@pytest.mark.parametrize(("filters", "gone"), [
    (["until=2021-01-01T00:00:00Z"], {"old_a", "old_b"}),
    (["until=2020-01-01T12:00:00Z"], {"old_a"}),
    ([f"until={int(time.mktime((2021, 1, 1, 0, 0, 0, 0, 0, 0)))}"], {"old_a", "old_b"}),
    (["until=1h"], {"old_a", "old_b"}),  # the future ones were "created" after an hour ago
    (["label=tier"], {"old_a", "old_b", "new_a", "new_b"}),
    (["label=tier=a"], {"old_a", "new_a"}),
    (["label=old_b"], {"old_b"}),
    (["label=tier=c"], set()),
    (["label!=tier=a"], {"old_b", "new_b"}),
    (["label!=new_a"], {"old_a", "old_b", "new_b"}),
    (["label!=tier"], set()),
    (["label=tier=a", "label=new_a"], {"new_a"}),  # every label= must hold
    (["label!=tier=a", "label!=old_a"], {"old_b", "new_a", "new_b"}),  # removed unless all hold
    (["until=2021-01-01T00:00:00Z", "label=tier=b"], {"old_b"}),
    (["until=2021-01-01T00:00:00Z", "label!=tier=b"], {"old_a"}),
])
def test_image_prune_filters(lamina: Run, labelled_images: dict[str, str], filters: list[str],
                             gone: set[str]) -> None:
    args = [a for f in filters for a in ("--filter", f)]
    result = ok(lamina("image", "prune", "-f", *args))
    for name in gone:
        assert f"deleted: {labelled_images[name]}" in result.out
    survivors = {labelled_images[n] for n in labelled_images if n not in gone}
    assert image_ids(lamina) == survivors


def test_image_prune_all_filters_keep_tagged_survivors(lamina: Run, load_image) -> None:
    keep = load_image([{"k": b"k"}], tags=["keep:1"],
                      config={"config": {"Labels": {"keep": "yes"}}}).config_digest
    drop = load_image([{"d": b"d"}], tags=["drop:1"],
                      config={"config": {"Labels": {"keep": "no"}}}).config_digest
    result = ok(lamina("image", "prune", "-a", "-f", "--filter", "label!=keep=yes"))
    assert "untagged: drop:1" in result.out and f"deleted: {drop}" in result.out
    assert image_ids(lamina) == {keep}
    assert lamina("images", "--format", "{{.Repository}}:{{.Tag}}").out == "keep:1\n"


@pytest.mark.parametrize("bad", ["colour=red", "until=soon", "label", "dangling=true"])
def test_image_prune_bad_filter_removes_nothing(lamina: Run, labelled_images: dict[str, str],
                                                bad: str) -> None:
    result = lamina("image", "prune", "-a", "-f", "--filter", bad)
    assert result.code == 1
    assert result.err.startswith("Error") and result.err.count("\n") == 1
    assert image_ids(lamina) == set(labelled_images.values())


# --- container prune ---------------------------------------------------------------------------

@pytest.fixture
def stopped(lamina: Run, load_image, store_root: Path) -> dict[str, str]:
    """Four created (so stopped) containers: two made "two hours ago", labelled tier=a/b."""
    load_image([{"bin/true": b""}], tags=["base:1"])
    made = {}
    for name, tier in (("old_a", "a"), ("old_b", "b"), ("new_a", "a"), ("new_b", "b")):
        made[name] = ok(lamina("create", "--name", name, "-l", f"tier={tier}", "-l", name,
                               "base:1", "/bin/true")).out.strip()
    engine = Engine(Settings.from_env(store_root))
    try:
        for name in ("old_a", "old_b"):
            engine.store.containers.update(made[name], created=time.time() - 7200)
    finally:
        engine.close()
    return made


@pytest.mark.parametrize(("filters", "gone"), [
    ([], {"old_a", "old_b", "new_a", "new_b"}),
    (["until=1h"], {"old_a", "old_b"}),  # the data-loss case: the new ones must stay
    (["until=3h"], set()),
    (["until=1h30m"], {"old_a", "old_b"}),
    ([f"until={int(time.time()) - 3600}"], {"old_a", "old_b"}),
    ([time.strftime("until=%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))],
     {"old_a", "old_b"}),
    (["label=tier"], {"old_a", "old_b", "new_a", "new_b"}),
    (["label=tier=a"], {"old_a", "new_a"}),
    (["label=new_b"], {"new_b"}),
    (["label=tier=z"], set()),
    (["label!=tier=a"], {"old_b", "new_b"}),
    (["label!=old_a"], {"old_b", "new_a", "new_b"}),
    (["label!=tier"], set()),
    (["label=tier=a", "label=old_a"], {"old_a"}),
    (["until=1h", "label=tier=b"], {"old_b"}),
    (["until=1h", "label!=tier=b"], {"old_a"}),
])
def test_container_prune_filters(lamina: Run, stopped: dict[str, str], filters: list[str],
                                 gone: set[str]) -> None:
    args = [a for f in filters for a in ("--filter", f)]
    result = ok(lamina("container", "prune", "-f", *args))
    removed = set(result.out.splitlines()[1:-2]) if gone else set()
    assert removed == {stopped[n] for n in gone}
    assert container_names(lamina) == set(stopped) - gone


@pytest.mark.parametrize("bad", ["colour=red", "until=soon", "label", "status=exited"])
def test_container_prune_bad_filter_removes_nothing(lamina: Run, stopped: dict[str, str],
                                                    bad: str) -> None:
    result = lamina("container", "prune", "-f", "--filter", bad)
    assert result.code == 1
    assert result.err.startswith("Error") and result.err.count("\n") == 1
    assert container_names(lamina) == set(stopped)


def test_image_prune_reclaims_the_unpacked_layers(lamina: Run, load_image) -> None:
    """docker's figure: the unpacked size of the layers that went (lamina frees the compressed
    blobs too, which the figure leaves out, as docker has none to count)."""
    load_image([{"kept": b"k"}], tags=["kept:1"])
    load_image([{"gone": b"g" * 10_000}])
    size = lamina("images", "-a", "--filter", "dangling=true", "--format", "{{.Size}}").out
    result = ok(lamina("image", "prune", "-f"))
    assert result.out.splitlines()[-1] == f"Total reclaimed space: {size.strip()}"
    assert size.strip() == "10kB"
