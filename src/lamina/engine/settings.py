"""Engine settings: where the store lives, and the knobs later verbs read.

Read once from the environment and the command line; passed to Engine explicitly, so the
library never reads global state behind its caller's back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from lamina.errors import InvalidArgument
from lamina.model.limits import LayerLimits


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
    """Where the store lives, and how far a layer may expand when unpacked."""

    root: Path
    layer_limits: LayerLimits = LayerLimits()

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None) -> Settings:
        return cls(root=Path(root) if root else default_root(),
                   layer_limits=layer_limits(config_file()))


def layer_limits(path: Path) -> LayerLimits:
    """The ``[layers]`` table of lamina's config file (the defaults where it has none)."""
    import tomllib

    try:
        with path.open("rb") as f:
            table = tomllib.load(f).get("layers", {})
    except FileNotFoundError:
        return LayerLimits()
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InvalidArgument(f"cannot read {path}: {err}") from err
    if not isinstance(table, dict):
        raise InvalidArgument(f"{path}: [layers] is not a table")
    return LayerLimits.from_table(table)
