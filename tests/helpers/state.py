"""What a store holds on disk, to check that a failed command left it exactly as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path


def store_state(root: Path) -> dict[str, str]:
    """Every file of the store with its content hash (the database and lock files aside)."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_file() and not rel.startswith("lamina.db") and not rel.endswith(".lock"):
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state
