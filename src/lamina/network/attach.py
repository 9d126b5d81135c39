"""Connecting a container to its networks when it starts, and letting go when it ends.

``connect`` runs in the command that starts the container, before the runtime: under the
network state's lock it gives the container an address on each of its networks (IPAM), its
published ports, a network namespace with a veth into each network's bridge, the nftables
table that matches, and its /etc/hosts and /etc/resolv.conf (and those of its peers, which now
know its name). ``release`` undoes it, from the monitor when the container ends, or from the
next command after a crash (``reconcile``). Nothing here touches the store's database.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

from lamina.errors import Conflict, ContainerError, InvalidArgument, LaminaError
from lamina.network import etc
from lamina.network.state import DEFAULT_BRIDGE, NetworkState, State, default_bridge, mac_for

NETNS = "netns"  # the pinned namespace, in the container's directory


def requested(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The container's networks, its first (``--network``) first, with their settings."""
    host = config.get("HostConfig", {})
    mode = host.get("NetworkMode") or DEFAULT_BRIDGE
    endpoints = (config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    out = [(mode, endpoints.get(mode) or {})]
    out += [(name, conf) for name, conf in endpoints.items() if name != mode]
    return out


def is_bridged(config: dict[str, Any]) -> bool:
    mode = config.get("HostConfig", {}).get("NetworkMode") or DEFAULT_BRIDGE
    return mode not in ("host", "none") and not mode.startswith("container:")


def resolve_network(state: State, name: str) -> dict[str, Any]:
    if name in (DEFAULT_BRIDGE, "default"):
        return default_bridge(state)
    return state.find(name)


def connect(root: Path, cdir: Path, record: Any) -> Path:
    """Plumb a starting container into its networks; the path of its network namespace."""
    from lamina.network import netlink, nft

    config = record.config
    netns = cdir / NETNS
    with NetworkState(root).locked() as state:
        _drop_endpoints(state, record.id)  # left by a crash
        _drop_stale(root, state)  # others', left by a crash: their addresses and ports are free
        netlink.remove_namespace(netns)
        made = []
        try:
            for index, (name, settings) in enumerate(requested(config)):
                made.append(_endpoint(state, record, cdir, name, settings, index))
            nets = [state.networks[e["NetworkID"]] for e in made]
            netlink.make_namespace(netns, [_plug(e, n) for e, n in zip(made, nets, strict=True)],
                                   [_bridge(n) for n in nets])
            nft.apply(state)
            _write_files(state, record, cdir)
            _rewrite_peers(state, record.id)
        except BaseException:
            _drop_endpoints(state, record.id)
            netlink.remove_namespace(netns)
            with suppress(LaminaError):
                nft.apply(state)
            raise
    return netns


def connect_running(root: Path, cdir: Path, record: Any, name: str,
                    settings: dict[str, Any]) -> None:
    """``network connect`` of a running container: one more veth into its namespace."""
    from lamina.network import netlink, nft

    netns = cdir / NETNS
    with NetworkState(root).locked() as state:
        index = len(state.endpoints_for(record.id))
        endpoint = _endpoint(state, record, cdir, name, settings, max(index, 1))
        net = state.networks[endpoint["NetworkID"]]
        try:
            netlink.plug(netns, _plug(endpoint, net), _bridge(net))
            nft.apply(state)
        except BaseException:
            state.endpoints.pop(f"{record.id}/{net['Id']}", None)
            raise
        first = state.endpoints_for(record.id)[0]
        if first.get("HostsBase"):
            etc.write_in_place(cdir / "hosts", first["HostsBase"] + _peer_lines(state, record.id))
        _rewrite_peers(state, record.id)


def disconnect_running(root: Path, cdir: Path, record: Any, network_id: str) -> None:
    from lamina.network import netlink, nft

    with NetworkState(root).locked() as state:
        endpoint = state.endpoints.pop(f"{record.id}/{network_id}", None)
        if endpoint is None:
            return
        netlink.unplug(cdir / NETNS, endpoint["IfName"])
        nft.apply(state)
        remaining = state.endpoints_for(record.id)
        if remaining:
            if endpoint.get("HostsBase"):
                remaining[0]["HostsBase"] = endpoint["HostsBase"]
            base = remaining[0].get("HostsBase")
            if base:
                etc.write_in_place(cdir / "hosts", base + _peer_lines(state, record.id))
        _rewrite_peers(state, record.id, {network_id})


def _plug(endpoint: dict[str, Any], net: dict[str, Any]) -> Any:
    from lamina.network.netlink import Plug

    return Plug(veth=endpoint["Veth"], ifname=endpoint["IfName"], bridge=net["Device"],
                address=endpoint["IPAddress"], prefix=endpoint["IPPrefixLen"],
                gateway=net["Gateway"], mac=endpoint["MacAddress"],
                first=endpoint["IfName"] == "eth0")


def _bridge(net: dict[str, Any]) -> Any:
    from lamina.network.netlink import Bridge

    return Bridge(net["Device"], net["Gateway"], ipaddress.ip_network(net["Subnet"]).prefixlen)


def _endpoint(state: State, record: Any, cdir: Path, name: str, settings: dict[str, Any],
              index: int) -> dict[str, Any]:
    net = resolve_network(state, name)
    key = f"{record.id}/{net['Id']}"
    if key in state.endpoints:
        raise Conflict(f"endpoint with name {record.name} already exists in network "
                       f"{net['Name']}")
    user_defined = net["Name"] != DEFAULT_BRIDGE
    wanted = (settings.get("IPAMConfig") or {}).get("IPv4Address") or None
    if wanted and not user_defined:
        raise InvalidArgument("user specified IP address is supported on user defined "
                              "networks only")
    aliases = list(settings.get("Aliases") or ())
    if aliases and not user_defined:
        raise InvalidArgument("network-scoped alias is supported only for containers in user "
                              "defined networks")
    address = state.allocate(net, wanted)
    mac = settings.get("MacAddress") or mac_for(address)
    endpoint = {
        "ContainerID": record.id, "NetworkID": net["Id"], "Name": record.name,
        "Aliases": aliases, "IPAddress": address,
        "IPPrefixLen": ipaddress.ip_network(net["Subnet"]).prefixlen,
        "Gateway": net["Gateway"], "MacAddress": mac, "EndpointID": os.urandom(32).hex(),
        "Veth": "veth" + os.urandom(4).hex()[:7], "IfName": f"eth{index}",
        "Hostname": record.config.get("Config", {}).get("Hostname") or record.id[:12],
        "Dir": str(cdir), "Ports": [], "Launcher": os.getpid(),
    }
    if index == 0:
        endpoint["Ports"] = _ports(state, record, address)
    state.endpoints[key] = endpoint
    return endpoint


def _ports(state: State, record: Any, address: str) -> list[dict[str, Any]]:
    """The published ports, each checked free (by lamina's containers and by the host)."""
    host = record.config.get("HostConfig", {})
    bindings: dict[str, list[dict[str, str]]] = dict(host.get("PortBindings") or {})
    if host.get("PublishAllPorts"):
        for port in record.config.get("Config", {}).get("ExposedPorts") or {}:
            bindings.setdefault(port, [{"HostIp": "", "HostPort": ""}])
    taken = {(p["Proto"], int(p["HostPort"]), p.get("HostIp") or "0.0.0.0")
             for e in state.endpoints.values() for p in e.get("Ports") or ()}
    out = []
    for spec, binds in sorted(bindings.items()):
        number, _, proto = spec.partition("/")
        proto = proto or "tcp"
        for bind in binds:
            host_ip = bind.get("HostIp") or "0.0.0.0"
            host_port = int(bind["HostPort"]) if bind.get("HostPort") else 0
            host_port = _reserve(host_ip, host_port, proto, taken, f"{address}:{number}")
            taken.add((proto, host_port, host_ip))
            out.append({"Proto": proto, "ContainerPort": int(number), "HostIp": host_ip,
                        "HostPort": str(host_port)})
    return out


def _reserve(host_ip: str, port: int, proto: str, taken: set[tuple[str, int, str]],
             target: str) -> int:
    for other_proto, other_port, other_ip in taken:
        if (other_proto, other_port) == (proto, port) and port and \
                (host_ip == other_ip or "0.0.0.0" in (host_ip, other_ip)):
            raise ContainerError(f"driver failed programming external connectivity on "
                                 f"endpoint: Bind for {host_ip}:{port} failed: port is already "
                                 "allocated", exit_code=125)
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((host_ip, port))
        return int(sock.getsockname()[1])
    except OSError as exc:
        raise ContainerError(f"failed to bind host port for {host_ip}:{port}:{target}/{proto}: "
                             f"{exc.strerror.lower() if exc.strerror else exc}",
                             exit_code=125) from None
    finally:
        sock.close()


def _write_files(state: State, record: Any, cdir: Path) -> None:
    config = record.config
    host = config.get("HostConfig", {})
    first = state.endpoints_for(record.id)[0]
    hostname = config.get("Config", {}).get("Hostname") or record.id[:12]
    domain = config.get("Config", {}).get("Domainname") or ""
    names = f"{hostname}.{domain}\t{hostname}" if domain else hostname
    base = etc.LOCALHOST + etc.extra_host_lines(host.get("ExtraHosts") or (), first["Gateway"])
    base += f"{first['IPAddress']}\t{names}\n"
    first["HostsBase"] = base
    etc.write_in_place(cdir / "hosts", base + _peer_lines(state, record.id))
    (cdir / "hostname").write_text(hostname + "\n")
    etc.write_in_place(cdir / "resolv.conf", etc.resolv_conf(
        etc.host_resolv(), dns=host.get("Dns") or (), search=host.get("DnsSearch") or (),
        options=host.get("DnsOptions") or ()))


def _peer_lines(state: State, container_id: str) -> str:
    """The other containers of this container's user networks, as hosts lines."""
    mine = {e["NetworkID"] for e in state.endpoints_for(container_id)}
    lines: list[str] = []
    for endpoint in sorted(state.endpoints.values(), key=lambda e: e["IPAddress"]):
        net = state.networks.get(endpoint["NetworkID"])
        if net is None or net["Name"] == DEFAULT_BRIDGE or endpoint["NetworkID"] not in mine:
            continue
        if endpoint["ContainerID"] == container_id:
            continue
        names = _unique([endpoint["Name"], *endpoint.get("Aliases", ()),
                         endpoint["ContainerID"][:12]])
        lines.append(f"{endpoint['IPAddress']}\t{' '.join(names)}\n")
    return "".join(lines)


def _unique(names: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return seen


def _rewrite_peers(state: State, container_id: str, networks: set[str] | None = None) -> None:
    """The hosts files of the containers that share a user network with this one."""
    if networks is None:
        networks = {e["NetworkID"] for e in state.endpoints_for(container_id)}
    done = {container_id}
    for endpoint in state.endpoints.values():
        other = endpoint["ContainerID"]
        if other in done or endpoint["NetworkID"] not in networks:
            continue
        done.add(other)
        peers = state.endpoints_for(other)
        base = next((e["HostsBase"] for e in peers if e.get("HostsBase")), None)
        if base is None:
            continue
        with suppress(OSError):
            etc.write_in_place(Path(endpoint["Dir"]) / "hosts", base + _peer_lines(state, other))


def _drop_endpoints(state: State, container_id: str) -> set[str]:
    networks = set()
    for key in [k for k, e in state.endpoints.items() if e["ContainerID"] == container_id]:
        networks.add(state.endpoints.pop(key)["NetworkID"])
    return networks


def release(root: Path, container_id: str, cdir: Path) -> None:
    """The container has ended: its endpoints, ports and namespace go (idempotent)."""
    from lamina.network import netlink, nft

    netns = cdir / NETNS
    state_file = NetworkState(root)
    if not netns.exists() and not state_file.read().endpoints_for(container_id):
        return
    with state_file.locked() as state:
        networks = _drop_endpoints(state, container_id)
        netlink.remove_namespace(netns)
        if networks:
            with suppress(LaminaError):
                nft.apply(state)
            _rewrite_peers(state, container_id, networks)


def _drop_stale(root: Path, state: State) -> None:
    """Under the state's lock: the endpoints of containers that no longer run (their monitor
    was killed, the machine restarted) go, with their pinned namespaces."""
    from lamina.network import netlink

    stale = {e["ContainerID"]: e["Dir"] for e in state.endpoints.values()
             if not running(root, e["ContainerID"]) and not _starting(e)}
    for container_id, directory in stale.items():
        networks = _drop_endpoints(state, container_id)
        netlink.remove_namespace(Path(directory) / NETNS)
        _rewrite_peers(state, container_id, networks)


def running(root: Path, container_id: str) -> bool:
    """Whether the container's monitor holds its lock (it runs)."""
    try:
        fd = os.open(root / "containers" / container_id / "monitor.lock",
                     os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _starting(endpoint: dict[str, Any]) -> bool:
    """The command that starts the container is still alive (its monitor may not hold its
    lock yet); when it ends without a monitor, the endpoint is stale."""
    pid = int(endpoint.get("Launcher") or 0)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def reconcile(root: Path) -> list[str]:
    """Endpoints of containers that no longer run (a monitor killed, a host restart) are
    released; the IDs of those containers."""
    stale = {e["ContainerID"]: e["Dir"] for e in NetworkState(root).read().endpoints.values()
             if not running(root, e["ContainerID"]) and not _starting(e)}
    for container_id, directory in stale.items():
        release(root, container_id, Path(directory))
    return list(stale)
