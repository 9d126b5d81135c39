"""Instructions that only change the image's config: ENV, LABEL, CMD, ENTRYPOINT, EXPOSE,
VOLUME, USER, STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER, ONBUILD.

Each becomes a ``Change``: the history line docker's BuildKit writes for it (also what the
build cache compares, with variables already expanded) and a function applying it to the
image data. Variables are expanded with the environment in effect *before* the instruction, so
``ENV a=1 b=$a`` sees the old ``a``, as in docker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.build.dockerfile import Node
from lamina.build.shell import expand, expand_words
from lamina.build.stages import parse_flags
from lamina.errors import DockerfileError

Data = dict[str, Any]
_SIGNALS = frozenset((
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
))
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


@dataclass(frozen=True)
class Change:
    created_by: str
    apply: Callable[[Data], None]


def _cfg(data: Data) -> dict[str, Any]:
    cfg = data.get("config")
    if not isinstance(cfg, dict):
        cfg = data["config"] = {}
    return cfg


def go_quote_list(items: list[str]) -> str:
    """Go's ``%q`` of a []string, as BuildKit writes CMD and ENTRYPOINT into history."""
    return "[" + " ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


def command(node: Node, shell: list[str]) -> list[str]:
    return list(node.args) if node.json else [*shell, node.args[0]] if node.args else []


def set_env(data: Data, pairs: list[tuple[str, str]]) -> None:
    cfg = _cfg(data)
    env = list(cfg.get("Env") or [])
    for key, value in pairs:
        # In place when the name is there already, as docker does.
        for i, item in enumerate(env):
            if item.partition("=")[0] == key:
                env[i] = f"{key}={value}"
                break
        else:
            env.append(f"{key}={value}")
    cfg["Env"] = env


def _pairs(node: Node, env: Mapping[str, str], escape: str) -> list[tuple[str, str]]:
    args = node.args
    return [(expand(args[i], env, escape), expand(args[i + 1], env, escape))
            for i in range(0, len(args), 2)]


def duration(text: str, flag: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    if text == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if match is None:
            raise DockerfileError(f'time: invalid duration "{text}" for flag {flag}')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise DockerfileError(f'time: invalid duration "" for flag {flag}')
    return int(total)


def change_for(node: Node, env: Mapping[str, str], escape: str, shell: list[str],
               cmd_set: bool) -> Change:
    kw = node.keyword
    keyword = kw.upper()
    if kw == "env":
        pairs = _pairs(node, env, escape)
        return Change("ENV " + " ".join(f"{k}={v}" for k, v in pairs),
                      lambda d: set_env(d, pairs))
    if kw == "label":
        labels = _pairs(node, env, escape)

        def label(d: Data) -> None:
            cfg = _cfg(d)
            merged = dict(cfg.get("Labels") or {})
            merged.update(labels)
            cfg["Labels"] = merged

        return Change("LABEL " + " ".join(f"{k}={v}" for k, v in labels), label)
    if kw in ("cmd", "entrypoint"):
        cmd = command(node, shell)

        def set_cmd(d: Data) -> None:
            cfg = _cfg(d)
            if kw == "cmd":
                cfg["Cmd"] = cmd
            else:
                cfg["Entrypoint"] = cmd
                if not cmd_set:
                    cfg["Cmd"] = None

        return Change(f"{keyword} {go_quote_list(cmd)}", set_cmd)
    if kw == "expose":
        ports: list[str] = []
        for word in node.args:
            for port in expand_words(word, env, escape):
                ports.extend(_ports(port, node))

        def expose(d: Data) -> None:
            cfg = _cfg(d)
            exposed = dict(cfg.get("ExposedPorts") or {})
            for port in ports:
                exposed[port] = {}
            cfg["ExposedPorts"] = exposed

        return Change("EXPOSE " + " ".join(ports), expose)
    if kw == "volume":
        paths = [expand(a, env, escape) for a in node.args] if node.json else [
            p for a in node.args for p in expand_words(a, env, escape)]
        for path in paths:
            if not path.strip():
                raise node.error("VOLUME specified can not be an empty string")

        def volume(d: Data) -> None:
            cfg = _cfg(d)
            volumes = dict(cfg.get("Volumes") or {})
            for path in paths:
                volumes[path] = {}
            cfg["Volumes"] = volumes

        return Change(f"VOLUME {go_quote_list(paths)}", volume)
    if kw == "user":
        user = expand(node.args[0], env, escape)
        return Change(f"USER {user}", lambda d: _cfg(d).__setitem__("User", user))
    if kw == "stopsignal":
        signal = expand(node.args[0], env, escape)
        _check_signal(signal, node)
        return Change(f"STOPSIGNAL {signal}", lambda d: _cfg(d).__setitem__("StopSignal", signal))
    if kw == "shell":
        new_shell = list(node.args)
        return Change(f"SHELL {go_quote_list(new_shell)}",
                      lambda d: _cfg(d).__setitem__("Shell", new_shell))
    if kw == "maintainer":
        author = node.args[0]
        return Change(f"MAINTAINER {author}", lambda d: d.__setitem__("author", author))
    if kw == "onbuild":
        trigger = node.args[0]

        def onbuild(d: Data) -> None:
            cfg = _cfg(d)
            cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), trigger]

        return Change(f"ONBUILD {trigger}", onbuild)
    if kw == "healthcheck":
        return _healthcheck(node)
    raise node.error(f"{keyword} does not change the image config")


def _ports(text: str, node: Node) -> list[str]:
    number, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise node.error(f"invalid proto: {proto}")
    start, dash, end = number.partition("-")
    if not start.isdigit() or (dash and not end.isdigit()):
        raise node.error(f"invalid containerPort: {number}")
    first, last = int(start), int(end) if dash else int(start)
    if last < first or last > 65535:
        raise node.error(f"invalid range specified for container port: {number}")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def _check_signal(signal: str, node: Node) -> None:
    name = signal.upper().removeprefix("SIG")
    if signal.isdigit() and 0 < int(signal) < 65:
        return
    if name in _SIGNALS or re.fullmatch(r"RTMIN(\+\d+)?|RTMAX(-\d+)?", name):
        return
    raise node.error(f"invalid signal: {signal}")


def _healthcheck(node: Node) -> Change:
    flags = parse_flags(node)
    if node.args[0].upper() == "NONE":
        if flags:
            raise node.error("HEALTHCHECK NONE takes no flags")
        test = ["NONE"]
        check: dict[str, Any] = {"Test": test}
    else:
        test = ["CMD", *node.args[1:]] if node.json else ["CMD-SHELL", node.args[1]]
        check = {"Test": test}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                          ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
            value = flags.get(flag)
            if isinstance(value, str):
                ns = duration(value, flag)
                if ns and ns < 10**6:
                    raise node.error(f"Interval \"{flag}\" cannot be less than 1ms")
                if ns:
                    check[key] = ns
        retries = flags.get("retries")
        if isinstance(retries, str):
            if not retries.lstrip("-").isdigit():
                raise node.error(f'strconv.ParseInt: parsing "{retries}": invalid syntax')
            if int(retries) < 0:
                raise node.error("--retries cannot be negative")
            if int(retries):
                check["Retries"] = int(retries)

    def apply(d: Data) -> None:
        _cfg(d)["Healthcheck"] = check

    return Change(f"HEALTHCHECK {json.dumps(check, separators=(',', ':'))}", apply)
