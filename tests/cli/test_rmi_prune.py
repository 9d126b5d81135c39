"""rmi and image prune: what is untagged, what is deleted, and what docker refuses."""

from __future__ import annotations

from pathlib import Path

from helpers.images import make_image, tar_directory, write_oci_layout
from lamina.engine import Engine, Settings
from lamina.engine.ingest import ingest_image
from lamina.image.archive import read_archive

from .conftest import Run


def ids(lamina: Run, *args: str) -> list[str]:
    return sorted(set(lamina("images", "-a", "-q", "--no-trunc", *args).out.split()))


def test_rmi_untags_then_deletes(lamina: Run, load_image, store_root: Path) -> None:
    image = load_image(tags=["app:1", "app:2"])
    first = lamina("rmi", "app:1")
    assert first.code == 0 and first.out == "Untagged: app:1\n"
    assert ids(lamina) == [image.config_digest]
    second = lamina("rmi", "app:2")
    assert second.out == f"Untagged: app:2\nDeleted: {image.config_digest}\n"
    assert ids(lamina) == []
    # Its files are gone too: nothing is left in blobs/ or snapshots/.
    assert not list((store_root / "blobs/sha256").iterdir())
    assert not list((store_root / "snapshots/sha256").iterdir())


def test_rmi_shared_layers_stay(lamina: Run, load_image, store_root: Path) -> None:
    base = {"etc/base": b"base"}
    load_image([base], tags=["one:1"])
    two = load_image([base, {"two": b"2"}], tags=["two:1"])
    assert lamina("rmi", "one:1").code == 0
    assert ids(lamina) == [two.config_digest]
    assert len(list((store_root / "snapshots/sha256").iterdir())) == 2
    assert lamina("inspect", "two:1").code == 0


def test_rmi_by_id_referenced_in_several_repositories(lamina: Run, load_image) -> None:
    image = load_image(tags=["a:1", "b:1"])
    short = image.config_digest[7:19]
    refused = lamina("rmi", short)
    assert refused.code == 1
    assert refused.err.strip() == (
        f"Error: conflict: unable to delete {short} (must be forced) - "
        "image is referenced in multiple repositories")
    assert ids(lamina) == [image.config_digest]
    forced = lamina("rmi", "-f", short)
    assert forced.code == 0
    assert forced.out.splitlines() == ["Untagged: a:1", "Untagged: b:1",
                                       f"Deleted: {image.config_digest}"]


def test_rmi_by_id_in_one_repository(lamina: Run, load_image) -> None:
    image = load_image(tags=["a:1", "a:2"])
    result = lamina("rmi", image.config_digest[7:15])
    assert result.code == 0
    assert result.out.splitlines()[-1] == f"Deleted: {image.config_digest}"


def test_rmi_errors_keep_going(lamina: Run, load_image) -> None:
    image = load_image(tags=["keep:1"])
    other = load_image([{"o": b"o"}], tags=["gone:1"])
    result = lamina("rmi", "nothere", "gone:1")
    assert result.code == 1
    assert result.err.strip() == "Error: No such image: nothere:latest"
    assert f"Deleted: {other.config_digest}" in result.out
    assert ids(lamina) == [image.config_digest]


def test_rmi_ambiguous_prefix(lamina: Run, load_image) -> None:
    made = [load_image([{"f": str(i).encode()}], tags=[f"i:{i}"]) for i in range(40)]
    hexes = [m.config_digest[7:] for m in made]
    shared = next((a[0] for a in hexes if sum(h[0] == a[0] for h in hexes) > 1), None)
    assert shared is not None  # 40 images over 16 first digits must collide
    result = lamina("rmi", shared)
    assert result.code == 1
    assert "multiple IDs found with provided prefix" in result.err
    assert len(ids(lamina)) == 40


def _child_of(store_root: Path, tmp_path: Path, parent_id: str, layers: list) -> str:
    """An image built on ``parent_id`` (as build and commit make them), added untagged."""
    child = make_image(layers)
    archive = tmp_path / "child.tar"
    archive.write_bytes(tar_directory(write_oci_layout(tmp_path / "child", [child])))
    engine = Engine(Settings.from_env(store_root))
    from lamina.model.digest import Digest

    with read_archive(archive) as loaded:
        ingest_image(engine.store, loaded.images[0].image, parent=Digest.parse(parent_id))
    return child.config_digest


def test_rmi_prunes_untagged_parents(lamina: Run, load_image, store_root: Path,
                                     tmp_path: Path) -> None:
    base = {"base": b"b"}
    parent = load_image([base])  # untagged intermediate
    child = _child_of(store_root, tmp_path, parent.config_digest, [base, {"top": b"t"}])
    assert lamina("tag", child, "child:1").code == 0
    # The parent is an intermediate image: hidden without -a, and not dangling.
    assert lamina("images", "-q", "--no-trunc").out.split() == [child]
    assert ids(lamina, "--filter", "dangling=true") == []
    refused = lamina("rmi", parent.config_digest)
    assert refused.code == 1 and "image has dependent child images" in refused.err
    result = lamina("rmi", "child:1")
    assert result.out.splitlines() == ["Untagged: child:1", f"Deleted: {child}",
                                       f"Deleted: {parent.config_digest}"]


def test_rmi_no_prune_keeps_parents(lamina: Run, load_image, store_root: Path,
                                    tmp_path: Path) -> None:
    base = {"base": b"b"}
    parent = load_image([base])
    child = _child_of(store_root, tmp_path, parent.config_digest, [base, {"top": b"t"}])
    lamina("tag", child, "child:1")
    result = lamina("rmi", "--no-prune", "child:1")
    assert result.out.splitlines() == ["Untagged: child:1", f"Deleted: {child}"]
    assert ids(lamina) == [parent.config_digest]
    assert ids(lamina, "--filter", "dangling=true") == [parent.config_digest]


def test_prune_dangling_only(lamina: Run, load_image) -> None:
    kept = load_image([{"k": b"k"}], tags=["kept:1"])
    dangling = load_image([{"d": b"d" * 10_000}])
    result = lamina("image", "prune", "-f")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Deleted Images:"
    assert f"deleted: {dangling.config_digest}" in lines
    assert lines[-1].startswith("Total reclaimed space: ") and not lines[-1].endswith(" 0B")
    assert ids(lamina) == [kept.config_digest]
    again = lamina("image", "prune", "-f")
    assert again.out == "Total reclaimed space: 0B\n"


def test_prune_all_and_prompt(lamina: Run, load_image) -> None:
    load_image([{"k": b"k"}], tags=["kept:1"])
    declined = lamina("image", "prune", "-a", stdin=b"n\n")
    assert declined.out.startswith(
        "WARNING! This will remove all images without at least one container associated "
        "to them.\nAre you sure you want to continue? [y/N] ")
    assert len(ids(lamina)) == 1
    accepted = lamina("image", "prune", "-a", stdin=b"y\n")
    assert "untagged: kept:1" in accepted.out
    assert ids(lamina) == []


def test_prune_filters(lamina: Run, load_image) -> None:
    old = load_image([{"o": b"o"}], config={"config": {"Labels": {"keep": "no"}},
                                            "created": "2020-01-01T00:00:00Z"})
    new = load_image([{"n": b"n"}], config={"config": {"Labels": {"keep": "yes"}},
                                            "created": "2099-01-01T00:00:00Z"})
    result = lamina("image", "prune", "-f", "--filter", "until=2021-01-01T00:00:00Z")
    assert f"deleted: {old.config_digest}" in result.out
    assert ids(lamina) == [new.config_digest]
    assert lamina("image", "prune", "-f", "--filter", "label=keep=no").out.endswith("0B\n")
    assert lamina("image", "prune", "-f", "--filter", "label=keep=yes").code == 0
    assert ids(lamina) == []
    bad = lamina("image", "prune", "-f", "--filter", "colour=red")
    assert bad.code == 1 and "invalid filter" in bad.err
