"""``-p``, ``--expose`` and ``lamina port``: port specs as docker (go-connections/nat) reads
them, and its PORTS column."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lamina.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")


def _range(text: str, what: str) -> tuple[int, int]:
    start_text, sep, end_text = text.partition("-")
    try:
        start = int(start_text)
        end = int(end_text) if sep else start
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if not (0 < start <= 65535) or not (0 < end <= 65535) or end < start:
        raise InvalidArgument(f"invalid {what}: {text}")
    return start, end


def parse_publish(specs: Sequence[str]) -> tuple[dict[str, list[dict[str, str]]], list[str]]:
    """``[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`` (ranges too): docker's PortBindings and
    the ports to expose."""
    bindings: dict[str, list[dict[str, str]]] = {}
    exposed: list[str] = []
    for spec in specs:
        raw, _, proto = spec.partition("/")
        proto = proto.lower() or "tcp"
        if proto not in PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        host_ip, host_port, container_port = "", "", raw
        if raw.startswith("["):  # [::1]:80:80
            end = raw.find("]")
            host_ip, rest = raw[1:end], raw[end + 2:]
            host_port, _, container_port = rest.rpartition(":")
        else:
            parts = raw.split(":")
            if len(parts) == 2:
                host_port, container_port = parts
            elif len(parts) == 3:
                host_ip, host_port, container_port = parts
            elif len(parts) > 3:
                raise InvalidArgument(f"invalid port specification: \"{spec}\"")
        if host_ip:
            try:
                ipaddress.ip_address(host_ip)
            except ValueError:
                raise InvalidArgument(f"invalid IP address: {host_ip}") from None
        if not container_port:
            raise InvalidArgument(f"no port specified: {spec}<empty>")
        c_start, c_end = _range(container_port, "containerPort")
        h_start = h_end = 0
        if host_port:
            h_start, h_end = _range(host_port, "hostPort")
            if (h_end - h_start) != (c_end - c_start) and h_end != h_start:
                raise InvalidArgument(f"invalid ranges specified for container and host Ports: "
                                      f"{container_port} and {host_port}")
        for i, port in enumerate(range(c_start, c_end + 1)):
            key = f"{port}/{proto}"
            if not host_port:
                hp = ""
            elif h_end == h_start:
                hp = str(h_start)
            else:
                hp = str(h_start + i)
            bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": hp})
            if key not in exposed:
                exposed.append(key)
    return bindings, exposed


def parse_expose(specs: Iterable[str]) -> list[str]:
    out = []
    for spec in specs:
        raw, _, proto = spec.partition("/")
        proto = proto.lower() or "tcp"
        if proto not in PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        start, end = _range(raw, "range format for --expose")
        out += [f"{p}/{proto}" for p in range(start, end + 1)]
    return out


def ports_column(exposed: Iterable[str], published: Sequence[Mapping[str, Any]]) -> str:
    """docker's PORTS: ``0.0.0.0:8080->80/tcp`` for each published port, ``80/tcp`` for an
    exposed one; consecutive ports are not folded into ranges here."""
    out = []
    seen = set()
    for port in sorted(published, key=lambda p: (int(p["ContainerPort"]), p["Proto"])):
        key = f"{port['ContainerPort']}/{port['Proto']}"
        seen.add(key)
        out.append(f"{port.get('HostIp') or '0.0.0.0'}:{port['HostPort']}->{key}")
    for key in sorted(exposed, key=lambda k: (int(k.split("/")[0]), k)):
        if key not in seen:
            out.append(key)
    return ", ".join(out)


def network_settings_ports(exposed: Iterable[str], published: Sequence[Mapping[str, Any]]
                           ) -> dict[str, list[dict[str, str]] | None]:
    """inspect's NetworkSettings.Ports."""
    out: dict[str, list[dict[str, str]] | None] = {key: None for key in exposed}
    for port in published:
        key = f"{port['ContainerPort']}/{port['Proto']}"
        out.setdefault(key, None)
        out[key] = [*(out[key] or []), {"HostIp": port.get("HostIp") or "0.0.0.0",
                                        "HostPort": str(port["HostPort"])}]
    return out
