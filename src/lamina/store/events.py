"""Events: what lamina commands did, in docker's shape, kept in the store's ``events`` table.

This module holds the event model, with docker's fields (``Type``, ``Action``, ``Actor`` with
``ID`` and ``Attributes``, ``scope``, ``time``, ``timeNano``), and the log they are kept in.
``lamina.engine.events`` records them for the verbs and answers queries (``lamina events``,
and the Engine API's ``GET /events``); the runtime records a container's ``die`` here too, as
it is the one that sees it.

Appending is one INSERT, so recording costs the quick paths (run, rm) almost nothing. The log
is bounded: now and then an append trims all but the newest ``KEEP`` events.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NamedTuple

from lamina.errors import StorageError
from lamina.store.db import Database

if TYPE_CHECKING:
    from lamina.store.containers import ContainerRecord

KEEP = 10_000  # events kept (docker's daemon keeps 256, in memory)
_TRIM_EVERY = 256  # trim when seq is a multiple of this, so trimming is rare and cheap


class Actor(NamedTuple):
    """What an event happened to: an ID (a container's, an image's or a reference) and its
    attributes (a container's name, image and labels; an exit code; a signal...)."""

    id: str
    attributes: dict[str, str]


class Event(NamedTuple):
    """One event, as docker's ``events.Message``."""

    type: str  # container, image, volume, network, builder...
    action: str  # create, start, die, destroy, pull, tag, untag, delete...
    actor: Actor
    time_nano: int  # nanoseconds since the epoch
    scope: str = "local"
    seq: int = 0  # its place in the log (0 until recorded)

    @property
    def time(self) -> int:
        return self.time_nano // 1_000_000_000

    def to_docker(self) -> dict[str, Any]:
        """docker's JSON for it, in the order of Go's struct (the API's and ``--format json``).

        docker still fills the deprecated ``status``/``id``/``from`` for containers and images.
        """
        message: dict[str, Any] = {}
        if self.type in ("container", "image"):
            message["status"] = self.action
            message["id"] = self.actor.id
            if self.type == "container" and self.actor.attributes.get("image"):
                message["from"] = self.actor.attributes["image"]
        message.update({
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor.id, "Attributes": dict(sorted(
                self.actor.attributes.items()))},
            "scope": self.scope,
            "time": self.time,
            "timeNano": self.time_nano,
        })
        return message


def container_actor(record: ContainerRecord, **extra: str) -> Actor:
    """docker's actor for a container event: its labels, then ``image`` and ``name``, then
    the event's own attributes (``exitCode``, ``signal``...)."""
    attributes = {str(k): str(v) for k, v in
                  (record.config.get("Config", {}).get("Labels") or {}).items()}
    attributes["image"] = record.image_name
    attributes["name"] = record.name
    attributes.update(extra)
    return Actor(record.id, attributes)


class EventLog:
    """The ``events`` table of a store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, type_: str, action: str, actor: Actor, *, scope: str = "local",
               time_nano: int | None = None) -> Event:
        """Record one event (now, unless ``time_nano``); the recorded event is returned."""
        when = time.time_ns() if time_nano is None else time_nano

        def write(conn: sqlite3.Connection) -> int:
            seq = conn.execute(
                "INSERT INTO events (time_nano, type, action, actor_id, attributes, scope)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (when, type_, action, actor.id, json.dumps(actor.attributes), scope)).lastrowid
            if seq is None:
                raise StorageError("the store did not number an event")
            if seq % _TRIM_EVERY == 0:
                conn.execute("DELETE FROM events WHERE seq <= ?", (seq - KEEP,))
            return seq

        seq = self.db.write(write)
        return Event(type_, action, actor, when, scope, seq)

    def read(self, *, after_seq: int = 0, since_nano: int | None = None,
             until_nano: int | None = None, limit: int = KEEP) -> list[Event]:
        """Events after ``after_seq``, in the order they were recorded, within the times
        given (both ends included)."""
        where = ["seq > ?"]
        args: list[Any] = [after_seq]
        if since_nano is not None:
            where.append("time_nano >= ?")
            args.append(since_nano)
        if until_nano is not None:
            where.append("time_nano <= ?")
            args.append(until_nano)
        sql = ("SELECT seq, time_nano, type, action, actor_id, attributes, scope FROM events"
               f" WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?")
        rows = self.db.read(lambda conn: conn.execute(sql, (*args, limit)).fetchall())
        return [Event(type_, action, Actor(actor_id, json.loads(attributes)), time_nano, scope,
                      seq)
                for seq, time_nano, type_, action, actor_id, attributes, scope in rows]

    def last_seq(self) -> int:
        """The newest event's number (0 for none): a follower reads what comes after it."""
        return int(self.db.read(
            lambda conn: conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]))


def record_quietly(log: EventLog, type_: str, action: str, actor: Actor) -> None:
    """Record an event for a verb that has already done its work: a store that cannot take the
    event (read-only, full) must not turn the verb's success into a failure."""
    with suppress(StorageError):
        log.append(type_, action, actor)
