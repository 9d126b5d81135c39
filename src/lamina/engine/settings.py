"""Engine settings: where the store lives, and the knobs later verbs read.

Read once from the environment and the command line; passed to Engine explicitly, so the
library never reads global state behind its caller's back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple


def default_root() -> Path:
    """$LAMINA_ROOT, else /var/lib/lamina as root, else ~/.local/share/lamina."""
    env = os.environ.get("LAMINA_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/lamina")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "lamina"


def config_file() -> Path:
    """lamina's own config file: $LAMINA_CONFIG, else /etc/lamina/config.toml as root, else
    ~/.config/lamina/config.toml. It may not exist."""
    env = os.environ.get("LAMINA_CONFIG")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/etc/lamina/config.toml")
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "lamina" / "config.toml"


class Settings(NamedTuple):
    """Where the store lives (more knobs come with later verbs)."""

    root: Path

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None) -> Settings:
        return cls(root=Path(root) if root else default_root())
