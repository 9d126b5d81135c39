"""lamina's nftables table (``ip lamina``): outbound NAT, published ports, internal networks.

The table is lamina's alone and is always written whole from the network state (one ``nft -f``
transaction that deletes and re-adds it), so it is exactly what the state says after every
change, and a crash leaves nothing that the next change does not put right. A change that
leaves the table as it was (a container without published ports joining or leaving a network
that exists) runs no ``nft`` at all: the state remembers what the table was made from, in this
boot and this network namespace. ``network prune`` writes the table again in any case (after
someone else flushed the machine's ruleset, say).

Each bridge is isolated from the others (forwarding between two of lamina's bridges is
dropped), and an ``--internal`` network's bridge forwards nothing to or from elsewhere.

Published ports are DNAT in the kernel (no proxy process): packets to a local address and a
published port are sent to the container, from the host (``output``) and from outside or other
containers (``prerouting``). Connections that reach a container through 127.0.0.1, or from a
container of the same bridge (hairpin), are masqueraded so that the replies come back the way
they went.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from lamina.errors import ContainerError
from lamina.network.state import State

TABLE = "lamina"
SO_NETNS_COOKIE = 71


def render(state: State) -> str:
    nat_post: list[str] = []
    forward: list[str] = []
    ports: list[str] = []
    devices = sorted(n["Device"] for n in state.networks.values())
    for net in sorted(state.networks.values(), key=lambda n: n["Name"]):
        dev, subnet = net["Device"], net["Subnet"]
        others = [d for d in devices if d != dev]
        if others:  # networks are isolated from each other, as docker's
            names = ", ".join(f'"{d}"' for d in others)
            forward.append(f'iifname "{dev}" oifname {{ {names} }} drop')
        if net.get("Internal"):
            forward.append(f'iifname "{dev}" oifname != "{dev}" drop')
            forward.append(f'oifname "{dev}" iifname != "{dev}" drop')
        else:
            nat_post.append(f'ip saddr {subnet} oifname != "{dev}" masquerade')
        nat_post.append(f'oifname "{dev}" ct status dnat ip saddr 127.0.0.0/8 masquerade')
        nat_post.append(f'oifname "{dev}" ct status dnat ip saddr {subnet} masquerade')
    for endpoint in sorted(state.endpoints.values(), key=lambda e: e["IPAddress"]):
        for port in endpoint.get("Ports") or ():
            ports.extend(_dnat(endpoint["IPAddress"], port))
    lines = [
        f"table ip {TABLE} {{",
        "  chain ports {",
        *(f"    {r}" for r in ports),
        "  }",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    fib daddr type local jump ports",
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        "    fib daddr type local jump ports",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {r}" for r in nat_post),
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        # a published port is reachable from every network's containers
        *(["    ct status dnat accept"] if forward else []),
        *(f"    {r}" for r in forward),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _dnat(address: str, port: dict[str, Any]) -> list[str]:
    proto = port["Proto"]
    target = f"dnat to {address}:{port['ContainerPort']}"
    host_ip = port.get("HostIp") or "0.0.0.0"
    match = f"{proto} dport {port['HostPort']} {target}"
    if host_ip in ("0.0.0.0", ""):
        return [match]
    # a port published on one address is reachable there, and on 127.0.0.1 from the host
    rules = [f"ip daddr {host_ip} {match}"]
    if host_ip != "127.0.0.1":
        rules.append(f"ip daddr 127.0.0.1 {match}")
    return rules


def apply(state: State, *, force: bool = False) -> None:
    """Make the kernel's lamina table what ``state`` says (removed when nothing needs it);
    nothing to do when the table was last made from the same rules here (unless ``force``)."""
    nft = shutil.which("nft") or "/usr/sbin/nft"
    if not state.networks and not os.path.exists(nft):
        return  # nothing to keep, and no table can exist without nft
    script = f"table ip {TABLE}\ndelete table ip {TABLE}\n"
    if state.networks:
        script += render(state)
    made_from = _made_from(script)
    if made_from and made_from == state.applied and not force:
        return
    state.applied = ""  # unknown until nft has said yes
    try:
        done = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
    except FileNotFoundError:
        raise ContainerError("nft is not installed (Debian's nftables): bridge networks "
                             "need it", exit_code=125) from None
    if done.returncode != 0:
        raise ContainerError(f"nftables: {done.stderr.strip().splitlines()[-1:]}",
                             exit_code=125)
    state.applied = made_from


def _made_from(script: str) -> str:
    """The rules, in this boot and this network namespace (another boot or namespace has
    its own table, or none yet); "" when that cannot be told (the table is written then)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # the namespace's cookie (Linux 5.14+), never the same for two namespaces in a
            # boot, where the inode number of one that went is reused
            cookie = sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8).hex()
    except OSError:
        return ""
    return hashlib.sha256(f"{boot} {cookie}\n{script}".encode()).hexdigest()


def table_exists() -> bool:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    if not os.path.exists(nft):
        return False
    done = subprocess.run([nft, "list", "table", "ip", TABLE], capture_output=True)
    return done.returncode == 0
