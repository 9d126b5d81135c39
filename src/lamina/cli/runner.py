"""``lamina run``'s body, shared by the click command (``lamina.cli.run``) and by the quick
path: ``lamina.cli.main`` hands a ``run`` command line here first, and a common one (the flags
of the table, an image in the store) runs without loading click, which would be a third of
the command's start-up. Anything else goes to click, which parses, helps, pulls and reports.

For the same reason, the classes this path goes through (records, references, image configs,
specs) are NamedTuples rather than dataclasses: importing dataclasses (with inspect) takes
~4 ms and making each dataclass ~0.5 ms more, together a tenth of the command (NamedTuples:
~0.05 ms). A test keeps click and dataclasses off this path."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from lamina.cli.container_flags import (
    RUN_FLAGS,
    as_run_error,
    build_options,
    parse,
    require_terminal,
    stdin_fd,
)
from lamina.errors import InvalidArgument, LaminaError

if TYPE_CHECKING:
    from lamina.engine import Engine


def execute(engine: Engine, image: str, command: tuple[str, ...] | list[str],
            kw: dict[str, Any], pull: Callable[[str], None] | None) -> int:
    """Create and run the container, attached or detached; the exit code of ``lamina run``."""
    code = _execute(engine, image, command, kw, pull, quick=False)
    if code is None:
        raise AssertionError("only the quick path gives up")
    return code


def _execute(engine: Engine, image: str, command: tuple[str, ...] | list[str],
             kw: dict[str, Any], pull: Callable[[str], None] | None, *,
             quick: bool) -> int | None:
    """``execute``; with ``quick``, None, having done nothing, when the image is not in the
    store (click's run then pulls it, or reports a bad name)."""
    from lamina.engine.lifecycle import attach_hooks

    detach = bool(kw.get("detach"))
    interactive = kw.get("interactive", False)
    tty = kw.get("tty", False)
    streams = {s.lower() for s in kw.get("attach") or ()} or {"stdin", "stdout", "stderr"}
    if detach and kw.get("attach"):  # docker's bare line and status 1, nothing made
        sys.stdout.flush()
        sys.stderr.write("conflicting options: cannot specify both --attach and --detach\n")
        return 1
    interactive = interactive and "stdin" in streams
    if interactive and tty and not detach:
        require_terminal()
    cidfile = None
    from lamina.engine.lifecycle import cool_network, warm_network

    try:
        # The image found or pulled is held until the container is made: no other lamina
        # process's rmi or prune can take it in between (lamina.store.holds).
        with engine.store.holding() as hold:
            if quick:
                try:
                    hold.resolve(image)
                except LaminaError:
                    return None
            options = build_options(kw, detach=detach)
            warm_network(options.network)  # (before a pull starts any thread)
            cidfile = _claim_cidfile(kw.get("cidfile"))
            from lamina.engine.lifecycle import prepare_run

            # --pull and --platform: the image pulled (or not), checked, warned about
            options = prepare_run(engine.store, image, options, pull,
                                  lambda warning: sys.stderr.write(warning + "\n"))
            hooks = None
            if not detach:
                hooks = attach_hooks(stdin=stdin_fd() if interactive and not tty else None)
            running = engine.run(image, command, options, attach=hooks, pull=None)
        if cidfile is not None:
            _write_cidfile(cidfile, running.record.id)
            cidfile = None
    except LaminaError as exc:
        raise as_run_error(exc) from exc
    finally:
        cool_network()
        if cidfile is not None:
            _drop_cidfile(cidfile, kw["cidfile"])
    if detach or running.started is None:
        sys.stdout.write(running.record.id + "\n")
        return 0
    null = cast("BinaryIO", _Null())
    return engine.attach(running, sys.stdout.buffer if "stdout" in streams else null,
                         sys.stderr.buffer if "stderr" in streams else null,
                         stdin=stdin_fd() if interactive and tty else None,
                         proxy_signals=kw.get("sig_proxy", True),
                         detach_keys=kw.get("detach_keys"))


class _Null:
    """Where a stream not attached (-a) goes."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _claim_cidfile(path: str | None) -> int | None:
    """--cidfile: made now, empty (docker refuses a file that exists), filled once created."""
    if not path:
        return None
    import os

    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise InvalidArgument(f"container ID file found, make sure the other container isn't "
                              f"running or delete {path}") from None
    except OSError as exc:
        raise InvalidArgument(f"failed to create the container ID file: {exc}") from None


def _drop_cidfile(fd: int, path: str) -> None:
    """The run failed before there was an ID to write: no empty file left (docker's)."""
    import os

    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(path)


def _write_cidfile(fd: int, container_id: str) -> None:
    import os

    try:
        os.write(fd, container_id.encode())
    finally:
        os.close(fd)


def quick(args: list[str]) -> int | None:
    """Run ``lamina run ARGS`` without click when it is a common command line whose image is
    in the store; None when click should take it."""
    parsed = parse(args, RUN_FLAGS)
    if parsed is None:
        return None
    kw, image, command = parsed
    if kw.get("pull") == "always" or kw.get("platform"):
        return None  # click's run pulls
    # No cyclic collection in this process: loading the engine makes ~100k objects that live
    # until the exit, and collecting would walk them again and again (a few ms). What it does
    # afterwards, attached, makes no cycles (the monitor, forked, disables it too).
    import gc

    gc.disable()
    from lamina.engine import Engine

    engine = Engine()
    try:
        code = _execute(engine, image, command, kw, pull=None, quick=True)
        if code is None:
            gc.enable()  # missing (click's run pulls it) or a bad name (click reports it)
        return code
    finally:
        engine.close()
