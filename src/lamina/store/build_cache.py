"""build's layer cache: a step's cache key -> the image that step made.

The table is part of the store's schema (migration 4); its rows go away with their image
(ON DELETE CASCADE), so a cached step never names an image that is gone.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from lamina.model.digest import Digest
from lamina.store.db import Database


class BuildCache:
    """Cache key -> the image a step made."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> Digest | None:
        def read(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "SELECT c.image_id FROM build_cache c JOIN images i ON i.id = c.image_id"
                " WHERE c.key = ?", (key,)).fetchone()

        row = self.db.read(read)
        return Digest(row[0]) if row else None

    def put(self, key: str, image_id: Digest) -> None:
        self.db.write(lambda conn: conn.execute(
            "INSERT INTO build_cache (key, image_id, created) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET image_id = excluded.image_id,"
            " created = excluded.created", (key, str(image_id), time.time())))
