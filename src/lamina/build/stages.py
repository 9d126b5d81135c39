"""A parsed Dockerfile checked and cut into stages, before anything is built.

Everything docker reports before it starts building is reported here, naming the line: flags an
instruction does not take, FROM's form, stage names, instructions before the first FROM (only
ARG may come there), arguments missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lamina.build.dockerfile import Dockerfile, Node, parse_heredoc

# Flags each instruction takes; "bool" flags may stand alone (--link), others need a value.
FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": "str"},
    "run": {"network": "str", "mount": "list", "security": "str"},
    "copy": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool",
             "exclude": "list"},
    "add": {"chown": "str", "chmod": "str", "link": "bool", "keep-git-dir": "bool",
            "checksum": "str", "exclude": "list"},
    "healthcheck": {"interval": "str", "timeout": "str", "start-period": "str",
                    "start-interval": "str", "retries": "str"},
}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


def parse_flags(node: Node) -> dict[str, str | list[str]]:
    """The node's ``--flags`` by name; an unknown flag or a missing value is an error."""
    allowed = FLAGS.get(node.keyword, {})
    found: dict[str, str | list[str]] = {}
    for flag in node.flags:
        name, sep, value = flag[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise node.error(f"unknown flag: {name}")
        if kind == "bool":
            if sep and value.lower() not in ("true", "false"):
                raise node.error(f"expecting boolean value for flag {name}, not: {value}")
            found[name] = "true" if not sep else value.lower()
            continue
        if not sep:
            raise node.error(f"missing a value on flag: {name}")
        if kind == "list":
            current = found.setdefault(name, [])
            assert isinstance(current, list)
            current.append(value)
        else:
            if name in found:
                raise node.error(f"duplicate flag specified: {name}")
            found[name] = value
    return found


@dataclass
class Stage:
    index: int
    base: str  # as written, expanded later with the global ARGs
    name: str | None
    platform: str | None
    node: Node
    instructions: list[Node] = field(default_factory=list)

    @property
    def display(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass
class Plan:
    meta_args: list[Node]
    stages: list[Stage]
    escape: str


def plan(dockerfile: Dockerfile) -> Plan:
    meta_args: list[Node] = []
    stages: list[Stage] = []
    names: set[str] = set()
    for node in dockerfile.nodes:
        _check(node)
        if node.sub is not None:
            _check(node.sub)
        if node.keyword == "from":
            flags = parse_flags(node)
            args = node.args
            if len(args) not in (1, 3):
                raise node.error("FROM requires either one or three arguments")
            name = None
            if len(args) == 3:
                if args[1].lower() != "as":
                    raise node.error("second argument should be AS")
                name = args[2].lower()
                if not _STAGE_NAME.match(name):
                    raise node.error(
                        f'invalid name for build stage: "{args[2]}", name can\'t start with a '
                        "number or contain symbols"
                    )
                if name in names:
                    raise node.error(f'duplicate stage name "{name}"')
                names.add(name)
            platform = flags.get("platform")
            stages.append(Stage(len(stages), args[0], name,
                                platform if isinstance(platform, str) else None, node))
        elif not stages:
            if node.keyword != "arg":
                raise node.error("no build stage in current context")
            meta_args.append(node)
        else:
            stages[-1].instructions.append(node)
    if not stages:
        raise _empty()
    return Plan(meta_args, stages, dockerfile.escape)


def _empty() -> Exception:
    from lamina.errors import DockerfileError

    return DockerfileError("file with no instructions")


def _check(node: Node) -> None:
    kw = node.keyword
    parse_flags(node)
    n = len(node.args)
    if kw in ("copy", "add") and n < 2 and not node.heredocs:
        if n == 0:
            raise node.error(f"{kw.upper()} requires at least two arguments")
        raise node.error(
            f"{kw.upper()} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    if kw in ("run", "cmd", "entrypoint") and n == 0 and not node.json:
        raise node.error(f"{kw.upper()} requires at least one argument")
    if kw in ("user", "workdir", "stopsignal", "maintainer", "expose", "volume", "arg",
              "shell") and n == 0:
        raise node.error(f"{kw.upper()} requires at least one argument")
    if kw in ("user", "workdir", "stopsignal") and n > 1:
        raise node.error(f"{kw.upper()} requires exactly one argument")
    if kw in ("copy", "add") and n >= 2 and parse_heredoc(node.args[-1]) is not None:
        raise node.error(f"{kw.upper()} cannot accept a heredoc as a destination")
    if kw == "healthcheck":
        _check_healthcheck(node)
    if kw == "shell" and not node.json:
        raise node.error("SHELL requires the arguments to be in JSON form")
    if kw == "stopsignal" and n != 1:
        raise node.error("STOPSIGNAL requires exactly one argument")


def _check_healthcheck(node: Node) -> None:
    if not node.args:
        raise node.error("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    if kind == "NONE":
        if len(node.args) > 1:
            raise node.error("HEALTHCHECK NONE takes no arguments")
    elif kind != "CMD":
        raise node.error(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    elif len(node.args) < 2:
        raise node.error("Missing command after HEALTHCHECK CMD")
