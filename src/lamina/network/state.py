"""The networks and their endpoints, kept in the store as one JSON file under a lock.

``<root>/networks/state.json`` holds every user network (and the default ``bridge`` once it is
first used) and every endpoint: a running container's place on a network, with its address
(IPAM), MAC, veth, names and published ports. Every change is a read-modify-write under an
exclusive ``flock`` of ``networks/lock``, so two commands starting containers at once never
hand out one address twice. The file is not the store's SQLite database because the container
monitor, which must not open that database, releases its container's endpoints when it ends.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lamina.errors import Conflict, InvalidArgument, NotFound

DEFAULT_BRIDGE = "bridge"
DEFAULT_SUBNET = "172.17.0.0/16"
DEFAULT_BRIDGE_DEVICE = "lamina0"
PSEUDO = ("host", "none")
# docker's default address pools for user networks: 172.17-31.0.0/16, then 192.168.x.0/20
POOLS = [f"172.{n}.0.0/16" for n in range(18, 32)] + \
    [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


class State:
    """The file's content: ``networks`` by ID and ``endpoints`` by "container/network"."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.networks: dict[str, dict[str, Any]] = data.get("networks", {})
        self.endpoints: dict[str, dict[str, Any]] = data.get("endpoints", {})
        # what the kernel's nftables table was last made from (lamina.network.nft.apply)
        self.applied: str = data.get("applied", "")

    def to_json(self) -> str:
        return json.dumps({"networks": self.networks, "endpoints": self.endpoints,
                           "applied": self.applied}, indent=1)

    def find(self, text: str) -> dict[str, Any]:
        """A network by name, full ID or unique ID prefix (docker's order)."""
        for net in self.networks.values():
            if net["Name"] == text:
                return net
        if text in self.networks:
            return self.networks[text]
        matches = [n for i, n in self.networks.items() if text and i.startswith(text)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"network {text} is ambiguous ({len(matches)} matches found based "
                           "on ID prefix)")
        raise NotFound(f"network {text} not found")

    def endpoints_of(self, network_id: str) -> list[dict[str, Any]]:
        return [e for e in self.endpoints.values() if e["NetworkID"] == network_id]

    def endpoints_for(self, container_id: str) -> list[dict[str, Any]]:
        return [e for e in self.endpoints.values() if e["ContainerID"] == container_id]

    def taken_addresses(self, network_id: str) -> set[str]:
        return {e["IPAddress"] for e in self.endpoints_of(network_id)}

    def allocate(self, net: dict[str, Any], wanted: str | None = None) -> str:
        """The next free address of the network's range (or ``wanted``, if free)."""
        subnet = ipaddress.ip_network(net["Subnet"])
        taken = self.taken_addresses(net["Id"]) | {net["Gateway"]}
        if wanted:
            address = ipaddress.ip_address(wanted)
            if address not in subnet:
                raise InvalidArgument(f"invalid endpoint settings: no configured subnet "
                                      f"contains IP address {wanted}")
            if wanted in taken:
                raise Conflict(f"Address already in use: {wanted}")
            return wanted
        pool = ipaddress.ip_network(net.get("IPRange") or net["Subnet"])
        for host in pool.hosts():
            if str(host) not in taken:
                return str(host)
        raise Conflict(f"no available IPv4 addresses on this network's address pools: "
                       f"{net['Name']} ({net['Id']})")

    def used_subnets(self) -> list[ipaddress.IPv4Network]:
        return [ipaddress.ip_network(n["Subnet"]) for n in self.networks.values()]  # type: ignore[misc]

    def free_pool(self) -> str:
        used = self.used_subnets()
        for candidate in POOLS:
            net = ipaddress.ip_network(candidate)
            if not any(net.overlaps(u) for u in used):
                return candidate
        raise Conflict("all predefined address pools have been fully subnetted")


class NetworkState:
    def __init__(self, root: Path) -> None:
        self.dir = root / "networks"
        self.file = self.dir / "state.json"

    @contextmanager
    def locked(self) -> Iterator[State]:
        """The state, for changing: written back when the block ends without an error."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self._read()
            before = state.to_json()
            yield state
            after = state.to_json()
            if after != before:
                tmp = self.dir / f".state.{os.getpid()}"
                tmp.write_text(after)
                os.replace(tmp, self.file)
        finally:
            os.close(fd)

    def read(self) -> State:
        return self._read()

    def _read(self) -> State:
        try:
            return State(json.loads(self.file.read_text()))
        except FileNotFoundError:
            return State({})
        except ValueError:
            return State({})  # a torn file is treated as empty; reconcile rebuilds the rest


def new_network(state: State, name: str, *, driver: str = "bridge", subnet: str | None = None,
                gateway: str | None = None, ip_range: str | None = None,
                internal: bool = False, labels: Mapping[str, str] | None = None,
                options: Mapping[str, str] | None = None, attachable: bool = False,
                network_id: str | None = None) -> dict[str, Any]:
    """A bridge network added to ``state``, its settings checked as docker checks them."""
    if name in PSEUDO or any(n["Name"] == name for n in state.networks.values()):
        raise Conflict(f"network with name {name} already exists")
    if driver != "bridge":
        if driver in ("host", "null"):
            raise Conflict(f"only one instance of \"{driver}\" network is allowed")
        raise NotFound(f"plugin \"{driver}\" not found")
    if subnet is None and (gateway or ip_range):
        raise InvalidArgument("no matching subnet for range" if ip_range else
                              "every ip-range or gateway must have a corresponding subnet")
    if subnet is None:
        subnet = DEFAULT_SUBNET if name == DEFAULT_BRIDGE else state.free_pool()
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {subnet}: invalid CIDR address: {subnet}") \
            from None
    if net.version != 4:
        raise InvalidArgument("lamina networks are IPv4 only")
    if str(net) != subnet and net.network_address != ipaddress.ip_network(subnet, strict=False
                                                                          ).network_address:
        subnet = str(net)
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {subnet}: too small")
    for other in state.networks.values():
        if net.overlaps(ipaddress.ip_network(other["Subnet"])):
            raise Conflict("invalid pool request: Pool overlaps with other one on this "
                           "address space")
    if gateway is None:
        gateway = str(next(net.hosts()))
    else:
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway address {gateway}") from None
        if gw not in net:
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    if ip_range is not None:
        try:
            rng = ipaddress.ip_network(ip_range, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid ip-range {ip_range}") from None
        if not rng.subnet_of(net):  # type: ignore[arg-type]
            raise InvalidArgument(f"no matching subnet for range {ip_range}")
        ip_range = str(rng)
    network_id = network_id or os.urandom(32).hex()
    options = dict(options or {})
    device = options.get("com.docker.network.bridge.name") or (
        DEFAULT_BRIDGE_DEVICE if name == DEFAULT_BRIDGE else f"br-{network_id[:12]}")
    if len(device) > 15:
        raise InvalidArgument(f"bridge name {device!r} is longer than 15 characters")
    if any(n["Device"] == device for n in state.networks.values()):
        raise Conflict(f"bridge name {device} is used by another network")
    record = {
        "Name": name, "Id": network_id, "Created": time.time(), "Driver": "bridge",
        "Subnet": str(net), "Gateway": gateway, "IPRange": ip_range, "Internal": internal,
        "Attachable": attachable, "Labels": dict(labels or {}), "Options": options,
        "Device": device,
    }
    state.networks[network_id] = record
    return record


def default_bridge(state: State) -> dict[str, Any]:
    """The default ``bridge`` network, made on first use."""
    for net in state.networks.values():
        if net["Name"] == DEFAULT_BRIDGE:
            return net
    return new_network(state, DEFAULT_BRIDGE, options={
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": DEFAULT_BRIDGE_DEVICE,
        "com.docker.network.driver.mtu": "1500",
    })


def mac_for(address: str) -> str:
    """docker's MAC for an address: 02:42 and the four bytes of the IPv4 address."""
    packed = ipaddress.ip_address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)
