"""Every switch of every command reads a value as docker's pflag does (``--all=false``): a
value that is not a boolean is refused in pflag's words, before the command does anything."""

from __future__ import annotations

import importlib

import click

from cli.conftest import Run
from lamina.cli.commands import COMMANDS


def switches() -> list[tuple[list[str], str]]:
    """(command path, switch) for every visible switch of every command, groups walked."""
    found: list[tuple[list[str], str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(click.Context(command)):
                sub = command.get_command(click.Context(command), name)
                if sub is not None:
                    walk(sub, [*path, name])
            return
        for param in command.params:
            if isinstance(param, click.Option) and param.is_flag and param.is_bool_flag and \
                    not param.hidden:
                long = [o for o in param.opts if o.startswith("--") and o != "--help"]
                if long:
                    found.append((path, long[0]))

    for name, target in COMMANDS.items():
        module, _, attr = target.partition(":")
        walk(getattr(importlib.import_module(module), attr), [name])
    return found


SWITCHES = switches()


def test_there_are_switches_to_check() -> None:
    assert len(SWITCHES) > 100


def test_every_switch_reads_a_value_as_pflag(lamina: Run) -> None:
    wrong = []
    for path, switch in SWITCHES:
        result = lamina(*path, f"{switch}=maybe")
        expected = (f'invalid argument "maybe" for "{switch}" flag: strconv.ParseBool: '
                    'parsing "maybe": invalid syntax')
        if (result.code, result.out, result.err.splitlines()[:1]) != (125, "", [expected]):
            wrong.append(f"{' '.join(path)} {switch}=maybe: {result.code} {result.err!r}")
    assert wrong == []
