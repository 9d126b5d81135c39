"""Holds (``lamina.store.holds``): an image a command found, or recorded, stays until the
command is done with it, whatever another process's ``rmi`` or ``prune`` does meanwhile; a
holder that dies (``kill -9``) holds nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers.images import make_image
from lamina.engine.images import prune_images, remove_images
from lamina.errors import Conflict, NotFound
from lamina.model.reference import Reference
from lamina.store import Store

from .support import add_image


def holds_rows(store: Store) -> list[tuple[str, str]]:
    return store.db.read(lambda c: c.execute("SELECT token, image_id FROM holds").fetchall())


def hold_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "tmp").glob("hold-*"))


def test_a_held_image_is_kept_from_other_processes_until_the_block_ends(tmp_path: Path) -> None:
    with Store(tmp_path) as store, Store(tmp_path) as other:
        record = add_image(store, make_image([{"etc/a": b"a\n"}]), ["held:1"])
        with store.holding() as hold:
            assert hold.resolve("held:1").id == record.id
            assert other.held_images() == {str(record.id)}
            # Not by prune (it skips it), rmi (docker's conflict), nor a plain delete.
            assert prune_images(other, all=True).removals == []
            removals, failures = remove_images(other, ["held:1"])
            assert removals == [] and len(failures) == 1
            assert str(failures[0]) == (
                'conflict: unable to remove repository reference "held:1" (must force) - '
                f"a container is being created from its referenced image {record.id.short}")
            with pytest.raises(Conflict, match="being used by a container being created"):
                other.delete_image(record.id)
            assert len(hold_files(tmp_path)) == 1
        # Released: no row, no file, and prune takes it now.
        assert holds_rows(store) == [] and hold_files(tmp_path) == []
        assert other.held_images() == set()
        assert [r.image_id for r in prune_images(other, all=True).removals
                if r.action == "Deleted"] == [str(record.id)]
        assert other.audit() == []


def test_rmi_force_of_a_held_image_untags_it_and_keeps_it(tmp_path: Path) -> None:
    with Store(tmp_path) as store, Store(tmp_path) as other:
        record = add_image(store, make_image([{"etc/a": b"a\n"}]), ["held:1"])
        with store.holding() as hold:
            hold.resolve("held:1")
            removals, failures = remove_images(other, ["held:1"], force=True)
            assert failures == [] and [r.action for r in removals] == ["Untagged"]
            assert other.image(record.id).tags == []
            # The name is gone; the block still has the image it found under it.
            assert hold.resolve("held:1").id == record.id


def test_a_name_means_one_image_for_the_whole_block(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        first = add_image(store, make_image([{"etc/a": b"1\n"}]), ["moving:1"])
        second = add_image(store, make_image([{"etc/a": b"2\n"}]))
        with store.holding() as hold:
            assert hold.resolve("moving:1").id == first.id
            store.tag(second.id, Reference.parse("moving:1"))
            assert hold.resolve("moving:1").id == first.id
            assert store.held_images() == {str(first.id)}


def test_an_image_gone_cannot_be_held(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        with store.holding() as hold:
            with pytest.raises(NotFound, match="No such image: gone:latest"):
                hold.resolve("gone")
            assert holds_rows(store) == []
        assert hold_files(tmp_path) == []


def test_a_block_that_holds_nothing_writes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        add_image(store, make_image([{"etc/a": b"a\n"}]), ["x:1"])
        before = store.db.change_token()
        with store.holding():
            assert hold_files(tmp_path) == []
        assert store.db.change_token() == before


def test_what_adding_records_is_held_until_the_block_ends(tmp_path: Path) -> None:
    """A pull records its image, then tags it: in between it is dangling, and a prune in
    another process must not take it."""
    with Store(tmp_path) as store, Store(tmp_path) as other:
        image = make_image([{"etc/a": b"a\n"}])
        with store.adding():
            record = add_image(store, image)  # (its own block joins this one)
            # Dangling, but held. (This prune's gc waits for the block's lease, then leaves
            # the files: 3 s.)
            assert prune_images(other, all=True).removals == []
            store.tag(record.id, Reference.parse("pulled:1"))
        assert holds_rows(store) == []
        assert store.image(record.id).tags == [Reference.parse("pulled:1")]


def test_inner_blocks_join_and_only_the_outermost_releases(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        record = add_image(store, make_image([{"etc/a": b"a\n"}]), ["x:1"])
        with store.holding() as outer:
            with store.holding() as inner:
                assert inner is outer
                inner.resolve("x:1")
            assert store.held_images() == {str(record.id)}
        assert store.held_images() == set()


def test_each_thread_has_its_own_block(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        add_image(store, make_image([{"etc/a": b"a\n"}]), ["x:1"])
        seen = []

        def other_thread() -> None:
            seen.append(store.holds.current)

        with store.holding() as hold:
            hold.resolve("x:1")
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
        assert seen == [None]


HOLDER = """
import sys, time
from lamina.store import Store
with Store(sys.argv[1]) as store, store.holding() as hold:
    hold.resolve(sys.argv[2])
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_holder_killed_holds_nothing(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        record = add_image(store, make_image([{"etc/a": b"a\n"}]), ["x:1"])
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "x:1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        with Store(tmp_path) as other:
            assert other.held_images() == {str(record.id)}
            assert prune_images(other, all=True).removals == []
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            # Its row is still there, its file no longer locked: stale, and removed.
            assert len(holds_rows(other)) == 1
            assert other.held_images() == set()
            assert holds_rows(other) == []
            assert [r.action for r in prune_images(other, all=True).removals] == [
                "Untagged", "Deleted"]
            assert other.audit() == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The dead holder's file goes with the next store opened (as every dead process's).
    with Store(tmp_path):
        assert hold_files(tmp_path) == []
