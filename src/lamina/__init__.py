"""lamina: a daemonless container engine and OCI registry.

The library is usable on its own: ``Engine(Settings.from_env()).images()``. Heavy modules are
imported lazily, so importing lamina is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina import errors

if TYPE_CHECKING:
    from lamina.engine import Engine
    from lamina.engine.settings import Settings

__all__ = ["Engine", "Settings", "errors"]

_LAZY = {"Engine": "lamina.engine", "Settings": "lamina.engine.settings"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lamina' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
