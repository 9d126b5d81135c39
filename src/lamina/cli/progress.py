"""Pull and push progress as docker shows it: plain lines when stdout is not a terminal, one
live line per layer with a bar when it is."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lamina.engine.pull import PullEvent

# Statuses that carry a byte count: shown as bars on a terminal, never as plain lines.
PROGRESS_STATUSES = frozenset({"Downloading", "Pushing", "Extracting"})


class PlainProgress:
    """``id: status`` lines, as docker prints them into a pipe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, event: PullEvent) -> None:
        if event.status in PROGRESS_STATUSES:
            return
        line = f"{event.id}: {event.status}" if event.id else event.status
        with self._lock:
            click.echo(line)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class LiveProgress:
    """One line per id, redrawn in place (rich), with a bar while bytes move."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(highlight=False)
        self._order: list[str] = []
        self._lines: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._live = Live(console=self._console, refresh_per_second=8, transient=False,
                          get_renderable=self._render)

    def _render(self) -> Any:
        from rich.console import Group

        with self._lock:
            return Group(*(self._lines[i] for i in self._order))

    def __call__(self, event: PullEvent) -> None:
        from rich.text import Text

        key = event.id or f"\0{len(self._order)}"  # whole-operation lines keep their place
        text = f"{event.id}: {event.status}" if event.id else event.status
        if event.status in PROGRESS_STATUSES and event.total:
            # As docker: the bar shrinks to keep "id: Downloading [bar] n/total" on one line.
            width = max(10, min(50, self._console.width - 50))
            done = min(width, event.current * width // max(event.total, 1))
            bar = "=" * max(done - 1, 0) + (">" if done else "") + " " * (width - done)
            text += f" [{bar}]  {_size(event.current)}/{_size(event.total)}"
        with self._lock:
            if key not in self._lines:
                self._order.append(key)
            self._lines[key] = Text(text, no_wrap=True, overflow="ellipsis")

    def __enter__(self) -> LiveProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()


def _size(n: int) -> str:
    from lamina.cli.format.units import human_size

    return str(human_size(n))


def make_progress(quiet: bool) -> PlainProgress | LiveProgress | None:
    if quiet:
        return None
    return LiveProgress() if sys.stdout.isatty() else PlainProgress()
