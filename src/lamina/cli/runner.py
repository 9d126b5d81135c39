"""``lamina run``'s body, shared by the click command (``lamina.cli.run``) and by the quick
path: ``lamina.cli.main`` hands a ``run`` command line here first, and a common one (the flags
of the table, an image in the store) runs without loading click, which would be a third of
the command's start-up. Anything else goes to click, which parses, helps, pulls and reports.

For the same reason, the classes this path goes through (records, references, image configs,
specs) are NamedTuples rather than dataclasses: importing dataclasses (with inspect) takes
~4 ms and making each dataclass ~0.5 ms more, together a tenth of the command (NamedTuples:
~0.05 ms). A test keeps click and dataclasses off this path."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lamina.cli.container_flags import (
    RUN_FLAGS,
    as_run_error,
    build_options,
    parse,
    require_terminal,
    stdin_fd,
)
from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.engine import Engine


def execute(engine: Engine, image: str, command: tuple[str, ...] | list[str],
            kw: dict[str, Any], pull: Callable[[str], None] | None) -> int:
    """Create and run the container, attached or detached; the exit code of ``lamina run``."""
    from lamina.engine.lifecycle import attach_hooks

    detach = bool(kw.get("detach"))
    interactive = kw.get("interactive", False)
    tty = kw.get("tty", False)
    if interactive and tty and not detach:
        require_terminal()
    try:
        options = build_options(kw, detach=detach)
        hooks = None
        if not detach:
            hooks = attach_hooks(stdin=stdin_fd() if interactive and not tty else None)
        running = engine.run(image, command, options, attach=hooks, pull=pull)
    except LaminaError as exc:
        raise as_run_error(exc) from exc
    if detach or running.started is None:
        sys.stdout.write(running.record.id + "\n")
        return 0
    return engine.attach(running, sys.stdout.buffer, sys.stderr.buffer,
                         stdin=stdin_fd() if interactive and tty else None)


def quick(args: list[str]) -> int | None:
    """Run ``lamina run ARGS`` without click when it is a common command line whose image is
    in the store; None when click should take it."""
    parsed = parse(args, RUN_FLAGS)
    if parsed is None:
        return None
    kw, image, command = parsed
    # No cyclic collection in this process: loading the engine makes ~100k objects that live
    # until the exit, and collecting would walk them again and again (a few ms). What it does
    # afterwards, attached, makes no cycles (the monitor, forked, disables it too).
    import gc

    gc.disable()
    from lamina.engine import Engine

    engine = Engine()
    try:
        try:
            engine.store.resolve(image)
        except LaminaError:
            gc.enable()
            return None  # missing (click's run pulls it) or a bad name (click reports it)
        return execute(engine, image, command, kw, pull=None)
    finally:
        engine.close()
