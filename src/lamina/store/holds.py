"""Holds: the images a command is using before anything else records that it does.

``run`` finds (or pulls) its image, then creates the container, whose row keeps the image from
``rmi`` and ``prune`` (a foreign key). Between the two, and between a pull's record and its
tag, or a build's step images and its final tag, nothing would: another process's ``image
prune -a`` could delete the image half-way, and the command would fail with "No such image"
because of someone else's work. A hold closes those windows. It is a row of ``holds`` (a
foreign key to the image, so an image cannot be deleted while held, and a hold cannot be taken
on an image already gone) naming its holder::

    with store.holding() as hold:
        image = hold.resolve(name)      # found and held in one transaction
        ...                             # images recorded here (a pull) are held as well
        make_container(image)           # from then on the container keeps it

The holder is a locked file in the store's ``tmp/`` (``lamina.store.scratch``), whose name is
the hold's token. The kernel drops the lock of a process that dies (``kill -9``), so a hold
whose file is missing or unlocked is stale: ``live_images`` removes such rows, which is what
``rmi`` and ``prune`` read before they delete anything.

Blocks nest and join, per thread: the outermost block of a thread owns the hold, and releases
it (rows first, then the file) when it ends.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import NotFound

if TYPE_CHECKING:
    from lamina.store import Store
    from lamina.store.records import ImageRecord
    from lamina.store.scratch import ScratchFile

_PREFIX = "hold"


class ImageHold:
    """The images one block of one thread holds (see the module's text)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._file: ScratchFile | None = None  # made at the first hold: most blocks take none
        self._names: dict[str, ImageRecord] = {}
        self.recorded: list[ImageRecord] = []  # images recorded in the block, in order

    @property
    def token(self) -> str:
        """The holder's name (its file's), made on first use."""
        if self._file is None:
            self._file = self._store.scratch.file(_PREFIX)
        return self._file.path.name

    def resolve(self, name: str) -> ImageRecord:
        """The image ``name`` means, held; the same one for the same name for as long as the
        block lasts (a name moved to another image meanwhile does not change it)."""
        held = self._names.get(name)
        if held is not None:
            return held
        from lamina.store.catalog import _resolve

        token = self.token

        def write(conn: sqlite3.Connection) -> str:
            image_id = _resolve(conn, name)
            _insert(conn, token, image_id)
            return image_id

        record = self._store.catalog.image(self._store.db.write(write))
        self._names[name] = record
        return record

    def adopt(self, name: str, record: ImageRecord) -> ImageRecord:
        """Let ``name`` mean ``record`` (held already: recorded in this block) from now on."""
        self._names[name] = record
        return record

    def release(self) -> None:
        """Drop every hold of the block: the rows, then the file that marks the holder live."""
        if self._file is None:
            return
        token = self._file.path.name
        try:
            self._store.db.write(
                lambda conn: conn.execute("DELETE FROM holds WHERE token = ?", (token,)))
        finally:
            self._file.discard()
            self._file = None
            self._names.clear()


def _insert(conn: sqlite3.Connection, token: str, image_id: str) -> None:
    try:
        conn.execute("INSERT OR IGNORE INTO holds (token, image_id) VALUES (?, ?)",
                     (token, image_id))
    except sqlite3.IntegrityError:  # deleted since it was found
        raise NotFound(f"No such image: {image_id}") from None


def hold_recorded(conn: sqlite3.Connection, hold: ImageHold | None, image_id: str) -> None:
    """In the transaction that records an image: hold it for the block open, if any."""
    if hold is not None:
        _insert(conn, hold.token, image_id)


class Holding:
    """A store's holds: the current block of each thread, and the reading of live ones."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._local = threading.local()

    @property
    def current(self) -> ImageHold | None:
        return getattr(self._local, "hold", None)

    @contextmanager
    def block(self) -> Iterator[ImageHold]:
        outer = self.current
        if outer is not None:
            yield outer
            return
        hold = ImageHold(self._store)
        self._local.hold = hold
        try:
            yield hold
        finally:
            self._local.hold = None
            hold.release()

    def live_images(self) -> set[str]:
        """The IDs of the images live holders hold; rows of dead holders are removed."""
        db = self._store.db
        tokens = db.read(lambda conn: [row[0] for row in conn.execute(
            "SELECT DISTINCT token FROM holds").fetchall()])
        if not tokens:
            return set()
        dead = [t for t in tokens if not _holder_alive(self._store.scratch.path, t)]
        if dead:
            db.write(lambda conn: conn.executemany(
                "DELETE FROM holds WHERE token = ?", [(t,) for t in dead]))
        live = [t for t in tokens if t not in dead]
        if not live:
            return set()
        marks = ",".join("?" * len(live))
        return db.read(lambda conn: {row[0] for row in conn.execute(
            f"SELECT image_id FROM holds WHERE token IN ({marks})", live).fetchall()})


def _holder_alive(tmp: Path, token: str) -> bool:
    """Whether the holder named ``token`` still holds the lock on its file."""
    if "/" in token or not token.startswith(_PREFIX + "-"):
        return False
    try:
        fd = os.open(tmp / token, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False  # gone: its holder released it, or died and was cleaned up after
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
