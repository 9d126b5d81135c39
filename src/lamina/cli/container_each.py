"""Verbs that act on several containers in turn (stop, kill, rm, ...): docker prints each name
as given when done, reports each failure on stderr, and exits 1 if any failed."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click

from lamina.errors import LaminaError


def for_each(names: Iterable[str], action: Callable[[str], object], *, echo: bool = True,
             summary: str | None = None) -> int:
    """``action`` on each name in turn, each failure said on its own line; with ``summary``,
    docker's last line naming those that failed (``start``'s "failed to start containers:
    a, b")."""
    failed: list[str] = []
    for name in names:
        try:
            action(name)
        except LaminaError as exc:
            failed.append(name)
            click.echo(f"Error: {exc}", err=True)
            continue
        if echo:
            click.echo(name)
    if failed and summary:
        click.echo(f"Error: {summary}: {', '.join(failed)}", err=True)
    return 1 if failed else 0
