"""``--change`` instructions (``import -c``, later ``commit -c``): Dockerfile lines that only
set image metadata, applied to a container config dict."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

from lamina.errors import InvalidArgument

# The instructions docker accepts in --change, and nothing else.
ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME",
           "WORKDIR", "STOPSIGNAL")


def apply_changes(config: dict[str, Any], changes: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``config`` with every change applied, in order."""
    result = dict(config)
    for change in changes:
        keyword, _, rest = change.strip().partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword not in ALLOWED:
            raise InvalidArgument(f"{keyword} is not a valid change command")
        if not rest:
            raise InvalidArgument(f"{keyword} requires at least one argument")
        _APPLY[keyword](result, rest)
    return result


def _command(rest: str) -> list[str]:
    """Exec form (a JSON array) as is; shell form wrapped in /bin/sh -c, as docker does."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _pairs(keyword: str, rest: str) -> list[tuple[str, str]]:
    """``K=V K2="v 2"``, or the legacy single ``K V`` form."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise InvalidArgument(f"{keyword}: {exc}") from None
    if "=" not in words[0]:
        key, _, value = rest.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{keyword} names can not be blank: {word!r}")
        pairs.append((key, value))
    return pairs


def _set_cmd(config: dict[str, Any], rest: str) -> None:
    config["Cmd"] = _command(rest)


def _set_entrypoint(config: dict[str, Any], rest: str) -> None:
    config["Entrypoint"] = _command(rest)


def _set_env(config: dict[str, Any], rest: str) -> None:
    env = list(config.get("Env") or [])
    for key, value in _pairs("ENV", rest):
        # Replace in place, as docker does, so the order of the others is kept.
        names = [e.partition("=")[0] for e in env]
        if key in names:
            env[names.index(key)] = f"{key}={value}"
        else:
            env.append(f"{key}={value}")
    config["Env"] = env


def _set_label(config: dict[str, Any], rest: str) -> None:
    labels = dict(config.get("Labels") or {})
    labels.update(_pairs("LABEL", rest))
    config["Labels"] = labels


def _set_expose(config: dict[str, Any], rest: str) -> None:
    ports = dict(config.get("ExposedPorts") or {})
    for port in rest.split():
        number, _, proto = port.partition("/")
        if not number.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid containerPort: {port}")
        ports[f"{number}/{proto or 'tcp'}"] = {}
    config["ExposedPorts"] = ports


def _set_volume(config: dict[str, Any], rest: str) -> None:
    volumes = dict(config.get("Volumes") or {})
    paths = _command(rest) if rest.startswith("[") else rest.split()
    for path in paths:
        volumes[path] = {}
    config["Volumes"] = volumes


def _set_onbuild(config: dict[str, Any], rest: str) -> None:
    config["OnBuild"] = [*(config.get("OnBuild") or []), rest]


def _set_user(config: dict[str, Any], rest: str) -> None:
    config["User"] = rest


def _set_workdir(config: dict[str, Any], rest: str) -> None:
    config["WorkingDir"] = rest


def _set_stopsignal(config: dict[str, Any], rest: str) -> None:
    config["StopSignal"] = rest


_APPLY = {
    "CMD": _set_cmd, "ENTRYPOINT": _set_entrypoint, "ENV": _set_env, "LABEL": _set_label,
    "EXPOSE": _set_expose, "VOLUME": _set_volume, "ONBUILD": _set_onbuild, "USER": _set_user,
    "WORKDIR": _set_workdir, "STOPSIGNAL": _set_stopsignal,
}
