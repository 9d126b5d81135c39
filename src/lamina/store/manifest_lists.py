"""Manifest lists being put together (``lamina manifest create/annotate``), before a push.

docker keeps them in its config directory; lamina keeps them in the store, one JSON document
per list under ``manifests/``, named by the hash of the list's reference (a reference holds
characters no file name may). Each is written whole to a temporary file and renamed into
place, so a reader sees the old list or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lamina.errors import StorageError


class ManifestLists:
    def __init__(self, root: Path) -> None:
        self.dir = root / "manifests"

    def _path(self, name: str) -> Path:
        return self.dir / (hashlib.sha256(name.encode()).hexdigest() + ".json")

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(name).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise StorageError(f"manifest list {name}: cannot be read: {err}") from err
        return data if isinstance(data, dict) else None

    def put(self, name: str, document: dict[str, Any]) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(name)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            tmp.write_text(json.dumps(document, indent=1))
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"manifest list {name}: cannot be written: {err}") from err

    def delete(self, name: str) -> bool:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True
