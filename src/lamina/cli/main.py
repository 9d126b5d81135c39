"""The ``lamina`` command: argv -> one Engine call -> render.

This is the one place that maps errors to exit codes, as docker does: 125 for usage errors,
1 for errors, and whatever a command returns otherwise. Command lines are parsed by click
(``lamina.cli.commands``), but for the common ``lamina run``, which ``lamina.cli.runner``
takes without loading click: a container's start-up is measured in milliseconds.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from lamina import errors


def exit_code_for(exc: BaseException) -> int:
    """The exit code docker uses for an error of this kind."""
    if isinstance(exc, errors.ContainerError):
        return exc.exit_code
    if isinstance(exc, errors.UsageError):
        return 125
    return 1


def fail(exc: errors.LaminaError) -> NoReturn:
    message = f"Error: {exc}"
    if exc.hint:
        message += f"\n{exc.hint}"
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.exit(exit_code_for(exc))


def main(argv: list[str] | None = None) -> None:
    if argv is not None:  # called in-process (tests, embedding): leave its collector alone
        _main(argv)
    try:  # the process is ours: the console script, python -m lamina
        _main(None)
    except SystemExit as exc:
        _exit_now(exc.code)
        raise
    finally:
        # The interpreter's teardown collects cycles by walking every object of every module
        # imported (~8 ms, more than many a command's own work), only to free what the exit
        # frees anyway. Frozen objects are left out; the standard streams are still flushed.
        import gc

        gc.freeze()


def _exit_now(code: object) -> None:
    """End the process without the interpreter's teardown (a few ms of freeing every module
    and object, which the kernel does at once), once nothing is left for it to do: no other
    thread, the exit handlers run, the standard streams flushed. Anything unusual (a thread
    still running, a stream that cannot be flushed, a message as exit status) takes the
    ordinary way out instead, with its usual messages and status."""
    import os
    import threading

    if code is None:
        code = 0
    if not isinstance(code, int) or threading.active_count() != 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = 120  # what the interpreter exits with when its final flush fails
    os._exit(code & 0xFF)  # as the kernel would truncate it


def _main(argv: list[str] | None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["run"]:
            from lamina.cli.runner import quick

            code = quick(args[1:])
            if code is not None:
                sys.exit(code)
        from lamina.cli.commands import invoke

        invoke(argv)
    except errors.LaminaError as exc:
        fail(exc)
    except BrokenPipeError:
        # `lamina images | head`: the reader left; say nothing, as docker does.
        sys.stderr.close()
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
