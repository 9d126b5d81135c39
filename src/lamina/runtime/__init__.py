"""Containers: root filesystems over the store's layer snapshots, run by an OCI runtime.

``run_step`` runs one command in the foreground over an image's layers (a build's RUN step);
the container lifecycle (create, start, the monitor, stop, exec) is in ``lamina.runtime``'s
modules and is driven by ``lamina.engine``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.runtime.step import run_step

__all__ = ["run_step"]


def __getattr__(name: str) -> Any:
    # Lazy: importing lamina.runtime must not load the store for commands that never run one.
    if name == "run_step":
        from lamina.runtime.step import run_step

        return run_step
    raise AttributeError(name)
