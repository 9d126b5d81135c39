"""Networks: the ``network`` verbs, a new container's network settings, and what ``inspect``
and ``ps`` show of a container's networks (lamina.network does the plumbing)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from lamina.errors import Conflict, InvalidArgument
from lamina.network.state import DEFAULT_BRIDGE, PSEUDO, NetworkState, State, new_network
from lamina.store import ContainerRecord, Store

LS_FILTERS = ("driver", "id", "label", "name", "scope", "type", "dangling")
PRUNE_FILTERS = ("until", "label", "label!")
MAC = re.compile(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}")
# The pseudo networks: fixed IDs (docker's are random per host; these are stable per store)
PSEUDO_IDS = {"host": "9" * 12, "none": "0" * 12}


class Networking(NamedTuple):
    host_config: dict[str, Any]
    networking_config: dict[str, Any]
    exposed: list[str]


def check_create(store: Store, opts: Any) -> Networking:
    """A new container's network flags, checked as docker checks them."""
    from lamina.network.etc import split_host
    from lamina.network.ports import parse_expose, parse_publish

    mode = opts.network or DEFAULT_BRIDGE
    if mode == "default":
        mode = DEFAULT_BRIDGE
    user_defined = mode not in (*PSEUDO, DEFAULT_BRIDGE)
    if user_defined and not mode.startswith("container:"):
        state = NetworkState(store.root).read()
        state.find(mode)  # not found: docker's "network X not found"
    elif mode.startswith("container:"):
        raise InvalidArgument("--network container:<name> is not supported")
    if mode in PSEUDO and (opts.publish or opts.publish_all) and mode == "host":
        pass  # docker ignores published ports with the host's network (and warns)
    if opts.ip:
        try:
            if ipaddress.ip_address(opts.ip).version != 4:
                raise ValueError
        except ValueError:
            raise InvalidArgument(f"invalid IPv4 address: {opts.ip}") from None
        if not user_defined:
            raise InvalidArgument("user specified IP address is supported on user defined "
                                  "networks only")
    if opts.network_alias and not user_defined:
        raise InvalidArgument("network-scoped alias is supported only for containers in user "
                              "defined networks")
    if opts.mac_address and not MAC.fullmatch(opts.mac_address):
        raise InvalidArgument(f"{opts.mac_address} is not a valid mac address")
    if mode == "none" and (opts.publish or opts.publish_all):
        raise InvalidArgument("conflicting options: port publishing and the container type "
                              "network mode")
    for entry in opts.add_host:
        split_host(entry)
    for server in opts.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidArgument(f"{server} is not an ip address") from None
    bindings, exposed = parse_publish(opts.publish)
    exposed += [p for p in parse_expose(opts.expose) if p not in exposed]
    host_config: dict[str, Any] = {
        "NetworkMode": mode, "PortBindings": bindings or {},
        "PublishAllPorts": bool(opts.publish_all),
        "Dns": list(opts.dns), "DnsSearch": list(opts.dns_search),
        "DnsOptions": list(opts.dns_option), "ExtraHosts": list(opts.add_host) or None,
    }
    endpoint: dict[str, Any] = {}
    if opts.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": opts.ip}
    if opts.network_alias:
        endpoint["Aliases"] = list(opts.network_alias)
    if opts.mac_address:
        endpoint["MacAddress"] = opts.mac_address
    networking = {"EndpointsConfig": {mode: endpoint}}
    return Networking(host_config, networking, exposed)


# ----------------------------------------------------------------------------- the verbs


def create(store: Store, name: str, *, driver: str = "bridge", subnet: str | None = None,
           gateway: str | None = None, ip_range: str | None = None, internal: bool = False,
           labels: Mapping[str, str] | None = None, options: Mapping[str, str] | None = None,
           attachable: bool = False) -> dict[str, Any]:
    from lamina.engine.names import validate_name

    if name in PSEUDO or name in (DEFAULT_BRIDGE, "default"):
        raise Conflict(f"network with name {name} already exists" if name != "default" else
                       "default is a pre-defined network and cannot be created")
    validate_name(name)
    with NetworkState(store.root).locked() as state:
        net = new_network(state, name, driver=driver, subnet=subnet, gateway=gateway,
                          ip_range=ip_range, internal=internal, labels=labels,
                          options=options, attachable=attachable)
    return net


def _all(state: State) -> list[dict[str, Any]]:
    """Every network: bridge (made on first use, shown always), host, none, the user's."""
    nets = list(state.networks.values())
    nets.append({"Name": "host", "Id": PSEUDO_IDS["host"], "Driver": "host", "Created": 0.0,
                 "Labels": {}, "Options": {}, "Internal": False})
    nets.append({"Name": "none", "Id": PSEUDO_IDS["none"], "Driver": "null", "Created": 0.0,
                 "Labels": {}, "Options": {}, "Internal": False})
    return nets


def _read(store: Store) -> State:
    """The state, with the default bridge on record (its ID is shown before its first use)."""
    state = NetworkState(store.root).read()
    if not any(n["Name"] == DEFAULT_BRIDGE for n in state.networks.values()):
        from lamina.network.state import default_bridge

        with NetworkState(store.root).locked() as locked:
            default_bridge(locked)
            state = locked
    return state


def find(store: Store, text: str) -> dict[str, Any]:
    state = _read(store)
    for net in _all(state):
        if net["Name"] == text or (net["Id"] and net["Id"] == text):
            return net
    return state.find(text)


def listing(store: Store, filters: Sequence[str] = ()) -> list[dict[str, Any]]:
    from lamina.engine.filters import match_labels, parse_filters

    wanted = parse_filters(filters, LS_FILTERS)
    state = _read(store)
    out = []
    for net in _all(state):
        builtin = net["Name"] in (*PSEUDO, DEFAULT_BRIDGE)
        if "driver" in wanted and net["Driver"] not in wanted["driver"]:
            continue
        if "name" in wanted and not any(n in net["Name"] for n in wanted["name"]):
            continue
        if "id" in wanted and not any(net["Id"].startswith(i) for i in wanted["id"]):
            continue
        if "label" in wanted and not match_labels(wanted["label"], net.get("Labels") or {}):
            continue
        if "scope" in wanted and "local" not in wanted["scope"]:
            continue
        if "type" in wanted:
            for value in wanted["type"]:
                if value not in ("custom", "builtin"):
                    raise InvalidArgument(f"invalid filter: 'type'='{value}'")
            if ("builtin" if builtin else "custom") not in wanted["type"]:
                continue
        if "dangling" in wanted:
            dangling = wanted["dangling"][-1].lower() in ("true", "1")
            used = bool(state.endpoints_of(net["Id"])) or builtin
            if used == dangling:
                continue
        out.append(net)
    return sorted(out, key=lambda n: n["Name"])


def inspect(store: Store, net: dict[str, Any]) -> dict[str, Any]:
    """docker's network inspect object."""
    from lamina.model.units import format_rfc3339nano

    state = NetworkState(store.root).read()
    containers = {}
    for e in state.endpoints_of(net["Id"]):
        containers[e["ContainerID"]] = {
            "Name": e["Name"], "EndpointID": e["EndpointID"], "MacAddress": e["MacAddress"],
            "IPv4Address": f"{e['IPAddress']}/{e['IPPrefixLen']}", "IPv6Address": ""}
    config = []
    if net.get("Subnet"):
        entry = {"Subnet": net["Subnet"], "Gateway": net["Gateway"]}
        if net.get("IPRange"):
            entry["IPRange"] = net["IPRange"]
        config.append(entry)
    return {
        "Name": net["Name"], "Id": net["Id"],
        "Created": format_rfc3339nano(net.get("Created") or 0.0),
        "Scope": "local", "Driver": net["Driver"], "EnableIPv4": True, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if net["Driver"] != "bridge" else {},
                 "Config": config},
        "Internal": bool(net.get("Internal")), "Attachable": bool(net.get("Attachable")),
        "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "Containers": containers, "Options": net.get("Options") or {},
        "Labels": net.get("Labels") or {},
    }


def remove(store: Store, text: str) -> None:
    _settle(store)
    with NetworkState(store.root).locked() as state:
        if text in PSEUDO or text in (DEFAULT_BRIDGE, "default") or \
                text in PSEUDO_IDS.values():
            name = text if text in (*PSEUDO, DEFAULT_BRIDGE) else \
                next((k for k, v in PSEUDO_IDS.items() if v == text), text)
            raise Conflict(f"{name} is a pre-defined network and cannot be removed")
        net = state.find(text)
        if state.endpoints_of(net["Id"]):
            raise Conflict(f"error while removing network: network {net['Name']} id "
                           f"{net['Id']} has active endpoints")
        del state.networks[net["Id"]]
        _unplumb(state, net)


def _unplumb(state: State, net: dict[str, Any]) -> None:
    from lamina.network import netlink, nft

    if netlink.link_exists(net["Device"]):
        netlink.remove_link(net["Device"])
    nft.apply(state)


def prune(store: Store, filters: Sequence[str] = ()) -> list[str]:
    """Every user network with no container on it; after a crash, what it left too."""
    from lamina.engine.filters import match_prune_labels, parse_filters, prune_until

    wanted = parse_filters(filters, PRUNE_FILTERS)
    until = prune_until(wanted.get("until"))
    _settle(store)
    removed = []
    with NetworkState(store.root).locked() as state:
        for net in sorted(state.networks.values(), key=lambda n: n["Name"]):
            if net["Name"] == DEFAULT_BRIDGE or state.endpoints_of(net["Id"]):
                continue
            if until is not None and net["Created"] > until:
                continue
            if not match_prune_labels(wanted, net.get("Labels") or {}):
                continue
            del state.networks[net["Id"]]
            _unplumb(state, net)
            removed.append(net["Name"])
        from lamina.network import netlink, nft

        if not state.endpoints:  # the default bridge goes too when no one uses it
            for net in list(state.networks.values()):
                if net["Name"] == DEFAULT_BRIDGE and netlink.link_exists(net["Device"]):
                    netlink.remove_link(net["Device"])
        # the table written whole, whatever the state remembers of it (someone else may
        # have flushed the machine's rules)
        if state.endpoints or removed or nft.table_exists():
            nft.apply(state, force=True)
    return removed


def _settle(store: Store) -> None:
    """Containers that ended without their monitor (killed) are settled, which releases their
    endpoints; endpoints left by a crash go too."""
    from lamina.engine.containers import listing as containers
    from lamina.network.attach import reconcile

    containers(store)
    reconcile(store.root)


def connect(store: Store, network: str, container: str, *, aliases: Sequence[str] = (),
            ip: str | None = None) -> None:
    from lamina.engine.containers import find as find_container

    record = find_container(store, container)
    net = find(store, network)
    if net["Name"] in PSEUDO:
        raise Conflict("container cannot be disconnected from host network or connected to "
                       "host network" if net["Name"] == "host" else
                       "container cannot be connected to the none network")
    networking = dict(record.config.get("NetworkingConfig") or {})
    endpoints = dict(networking.get("EndpointsConfig") or {})
    mode = record.config.get("HostConfig", {}).get("NetworkMode")
    if mode == "none" and not endpoints and record.state != "running":
        mode = None  # disconnected from all: this network becomes its first
    if mode in PSEUDO:
        raise Conflict("container sharing network namespace with another container or host "
                       "cannot be connected to any other network")
    names = {find(store, n)["Id"] for n in endpoints if n not in PSEUDO} | \
        ({find(store, mode)["Id"]} if mode else set())
    if net["Id"] in names and net["Id"]:
        raise Conflict(f"endpoint with name {record.name} already exists in network "
                       f"{net['Name']}")
    settings: dict[str, Any] = {}
    if aliases:
        settings["Aliases"] = list(aliases)
    if ip:
        settings["IPAMConfig"] = {"IPv4Address": ip}
    if record.state == "running":
        from lamina.network.attach import connect_running

        connect_running(store.root, store.containers_dir / record.id, record, net["Name"],
                        settings)
    endpoints[net["Name"]] = settings
    networking["EndpointsConfig"] = endpoints
    config = dict(record.config)
    config["NetworkingConfig"] = networking
    if mode is None:
        config["HostConfig"] = {**config.get("HostConfig", {}), "NetworkMode": net["Name"]}
    store.containers.update(record.id, config=config)


def disconnect(store: Store, network: str, container: str, *, force: bool = False) -> None:
    from lamina.engine.containers import find as find_container

    record = find_container(store, container)
    net = find(store, network)
    networking = dict(record.config.get("NetworkingConfig") or {})
    endpoints = dict(networking.get("EndpointsConfig") or {})
    key = next((n for n in endpoints if n in (net["Name"], net["Id"])), None)
    if key is None:
        raise Conflict(f"container {record.id} is not connected to network {net['Name']}")
    if record.state == "running":
        from lamina.network.attach import disconnect_running

        disconnect_running(store.root, store.containers_dir / record.id, record, net["Id"])
    del endpoints[key]
    networking["EndpointsConfig"] = endpoints
    config = dict(record.config)
    config["NetworkingConfig"] = networking
    if config.get("HostConfig", {}).get("NetworkMode") == key:
        host = dict(config["HostConfig"])
        host["NetworkMode"] = next(iter(endpoints), "none")
        config["HostConfig"] = host
    store.containers.update(record.id, config=config)


# ------------------------------------------------------------------ a container's networks


def container_endpoints(store: Store, record: ContainerRecord) -> list[dict[str, Any]]:
    if record.state != "running":
        return []
    return NetworkState(store.root).read().endpoints_for(record.id)


def published_ports(store: Store, record: ContainerRecord) -> list[dict[str, Any]]:
    return [p for e in container_endpoints(store, record) for p in e.get("Ports") or ()]


def network_settings(store: Store, record: ContainerRecord) -> dict[str, Any]:
    """inspect's NetworkSettings."""
    from lamina.network.ports import network_settings_ports

    state = NetworkState(store.root).read()
    endpoints = state.endpoints_for(record.id) if record.state == "running" else []
    config = record.config
    mode = config.get("HostConfig", {}).get("NetworkMode") or "none"
    wanted = (config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {mode: {}}
    networks: dict[str, Any] = {}
    by_net = {e["NetworkID"]: e for e in endpoints}
    for name, settings in wanted.items():
        net = state.networks.get(name) or next(
            (n for n in state.networks.values() if n["Name"] == name), None)
        e = by_net.get(net["Id"]) if net else None
        networks[name] = {
            "IPAMConfig": settings.get("IPAMConfig"), "Links": None,
            # (the short ID among the aliases, as docker's API before 1.45 has it: compose
            # reconnects a container whose aliases lack it)
            "Aliases": [*(settings.get("Aliases") or ()), record.id[:12]]
            if name not in (*PSEUDO, DEFAULT_BRIDGE) else settings.get("Aliases"),
            "MacAddress": e["MacAddress"] if e else "",
            "DriverOpts": None, "GwPriority": 0,
            "NetworkID": net["Id"] if net else PSEUDO_IDS.get(name, ""),
            "EndpointID": e["EndpointID"] if e else "", "Gateway": e["Gateway"] if e else "",
            "IPAddress": e["IPAddress"] if e else "", "IPPrefixLen": e["IPPrefixLen"] if e else 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": ([e["Name"], *(e.get("Aliases") or ()), record.id[:12]]
                         if e and name != DEFAULT_BRIDGE else None),
        }
    exposed = list(config.get("Config", {}).get("ExposedPorts") or {})
    published = [p for e in endpoints for p in e.get("Ports") or ()]
    first = endpoints[0] if endpoints else None
    default = first if first and mode == DEFAULT_BRIDGE else None
    netns = store.containers_dir / record.id / "netns"
    return {
        "Bridge": "", "SandboxID": record.id if first else "",
        "SandboxKey": str(netns) if first else "",
        "Ports": network_settings_ports(exposed, published),
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": default["EndpointID"] if default else "",
        "Gateway": default["Gateway"] if default else "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": default["IPAddress"] if default else "",
        "IPPrefixLen": default["IPPrefixLen"] if default else 0,
        "IPv6Gateway": "", "MacAddress": default["MacAddress"] if default else "",
        "Networks": networks,
    }


def ports_column(store: Store, record: ContainerRecord) -> str:
    from lamina.network.ports import ports_column as column

    exposed = list(record.config.get("Config", {}).get("ExposedPorts") or {})
    return column(exposed, published_ports(store, record))

