"""Containers in the metadata database: one row each, their state kept current by the monitor.

A container row references its image (``ON DELETE RESTRICT``), so an image in use cannot lose
its metadata, and gc keeps its snapshots. The container's configuration (docker's ``Config``
and ``HostConfig``, as given at create) is one JSON document; what changes while it lives
(state, pids, exit code, times) has columns of its own, written by one small transaction each.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any, NamedTuple

from lamina.errors import Conflict, InvalidArgument, NotFound
from lamina.store.db import Database

_COLUMNS = ("id, name, image_id, image_name, created, state, config, pid, monitor_pid, exit_code,"
            " started, finished, error, restart_count")
_HEX = re.compile(r"[0-9a-f]{1,64}")
# States: created, running, exited, and removing (while its files go).


class ContainerRecord(NamedTuple):
    """A container as the store knows it."""

    id: str  # 64 hex digits, as docker's
    name: str  # without docker's leading "/"
    image_id: str
    image_name: str  # the image as the user named it (ps shows this)
    created: float
    config: dict[str, Any]  # docker's Config, HostConfig, Path and Args, as given at create
    state: str = "created"
    pid: int | None = None
    monitor_pid: int | None = None
    exit_code: int | None = None
    started: float | None = None
    finished: float | None = None
    error: str = ""
    restart_count: int = 0

    @property
    def short_id(self) -> str:
        return self.id[:12]


def _record(row: tuple[Any, ...]) -> ContainerRecord:
    (id_, name, image_id, image_name, created, state, config, pid, monitor_pid, exit_code,
     started, finished, error, restart_count) = row
    return ContainerRecord(id_, name, image_id, image_name, created, json.loads(config), state,
                           pid, monitor_pid, exit_code, started, finished, error, restart_count)


def _check_free(conn: sqlite3.Connection, name: str) -> None:
    taken = conn.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
    if taken is not None:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{taken[0]}". You have to remove (or rename) that container to be able to reuse '
            "that name."
        )


class ContainerTable:
    """The ``containers`` table of a store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, record: ContainerRecord) -> None:
        """Insert a new container; Conflict if its name is taken."""

        def write(conn: sqlite3.Connection) -> None:
            _check_free(conn, record.name)
            if conn.execute("SELECT 1 FROM images WHERE id = ?",
                            (record.image_id,)).fetchone() is None:
                raise NotFound(f"No such image: {record.image_id}")
            conn.execute(
                f"INSERT INTO containers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?, ?)",
                (record.id, record.name, record.image_id, record.image_name, record.created,
                 record.state, json.dumps(record.config), record.pid, record.monitor_pid,
                 record.exit_code, record.started, record.finished, record.error,
                 record.restart_count),
            )

        self.db.write(write)

    def update(self, container_id: str, **values: Any) -> None:
        """Set columns of one container (state, pid, exit_code, ...); a gone one is ignored."""
        if not values:
            return
        allowed = set(_COLUMNS.replace(" ", "").split(",")) - {"id"}
        unknown = set(values) - allowed
        if unknown:
            raise InvalidArgument(f"unknown container fields: {', '.join(sorted(unknown))}")
        if "config" in values:
            values["config"] = json.dumps(values["config"])
        assignments = ", ".join(f"{key} = ?" for key in values)
        self.db.write(lambda conn: conn.execute(
            f"UPDATE containers SET {assignments} WHERE id = ?", (*values.values(), container_id)
        ))

    def rename(self, container_id: str, name: str) -> None:
        """Give a container another name; Conflict if the name is taken."""

        def write(conn: sqlite3.Connection) -> None:
            _check_free(conn, name)
            conn.execute("UPDATE containers SET name = ? WHERE id = ?", (name, container_id))

        self.db.write(write)

    def delete(self, container_id: str) -> bool:
        return bool(self.db.write(lambda conn: conn.execute(
            "DELETE FROM containers WHERE id = ?", (container_id,)).rowcount))

    def all(self) -> list[ContainerRecord]:
        """Every container, newest first."""
        rows = self.db.read(lambda conn: conn.execute(
            f"SELECT {_COLUMNS} FROM containers ORDER BY created DESC, id").fetchall())
        return [_record(row) for row in rows]

    def get(self, container_id: str) -> ContainerRecord | None:
        row = self.db.read(lambda conn: conn.execute(
            f"SELECT {_COLUMNS} FROM containers WHERE id = ?", (container_id,)).fetchone())
        return _record(row) if row is not None else None

    def find(self, text: str) -> ContainerRecord:
        """A container by full ID, name (with or without "/"), or unique ID prefix, as docker."""
        name = text[1:] if text.startswith("/") else text

        def lookup(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM containers WHERE id = ? OR name = ?"
                               " ORDER BY id = ? DESC LIMIT 1", (text, name, text)).fetchone()
            if row is not None or not _HEX.fullmatch(text):
                return row
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM containers WHERE id >= ? AND id < ? LIMIT 2",
                (text, text + "g")).fetchall()
            if len(rows) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {text}")
            return rows[0] if rows else None

        row = self.db.read(lookup) if text else None
        if row is None:
            raise NotFound(f"No such container: {text}")
        return _record(row)

    def names(self) -> set[str]:
        return {row[0] for row in self.db.read(
            lambda conn: conn.execute("SELECT name FROM containers").fetchall())}
