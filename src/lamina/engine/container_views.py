"""What ``ps`` and ``inspect`` show of containers: docker's rows, filters and objects."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.engine.containers import listing
from lamina.engine.filters import match_labels, parse_filters
from lamina.errors import InvalidArgument, NotFound
from lamina.store import ContainerRecord, Store

PS_FILTERS = ("status", "name", "ancestor", "label", "exited", "id", "since", "before",
              "health", "publish", "expose", "volume", "network")
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class ContainerRow:
    """One line of ``lamina ps``."""

    id: str
    image: str
    command: str
    created: float
    state: str
    exit_code: int | None
    started: float | None
    finished: float | None
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    size_rw: int | None = None
    size_root: int | None = None
    mounts: tuple[str, ...] = ()
    network: str = ""
    ports: str = ""
    health: str = ""  # starting, healthy, unhealthy; "" without a health check
    image_id: str = ""

    def status(self, now: float | None = None) -> str:
        """docker's words: "Up 3 seconds", "Exited (0) 5 seconds ago", "Created"."""
        from lamina.model.units import human_duration

        now = time.time() if now is None else now
        if self.state == "restarting":
            ago = human_duration(max(0.0, now - (self.finished or now)))
            return f"Restarting ({self.exit_code or 0}) {ago} ago"
        if self.state in ("running", "paused"):
            up = "Up " + human_duration(max(0.0, now - (self.started or now)))
            if self.state == "paused":
                return up + " (Paused)"
            if self.health == "starting":
                return up + " (health: starting)"
            return up + f" ({self.health})" if self.health else up
        if self.state == "exited":
            ago = human_duration(max(0.0, now - (self.finished or now)))
            return f"Exited ({self.exit_code if self.exit_code is not None else 0}) {ago} ago"
        if self.state == "removing":
            return "Removal In Progress"
        return "Created"


def state_of(record: ContainerRecord, store: Store | None = None) -> str:
    """docker's word for the container's state: the record's, but "paused" for a running
    container whose cgroup is frozen (the kernel keeps that, see lamina.engine.pause), and,
    given its store, "restarting" between the runs of its restart policy."""
    if record.state == "running":
        from lamina.runtime.cgroups import frozen

        if frozen(record.id):
            return "paused"
        if record.config.get("HostConfig", {}).get("RestartPolicy", {}).get("Name", "no") \
                != "no" and store is not None and \
                restart_state(store, record).get("Restarting"):
            return "restarting"
    return record.state


def restart_state(store: Store, record: ContainerRecord) -> dict[str, Any]:
    """What the monitor keeps of its restarts (``lamina.runtime.restarts``)."""
    from lamina.runtime.restarts import read_state

    return read_state(store.containers_dir / record.id)


def health_of(store: Store, record: ContainerRecord) -> dict[str, Any] | None:
    """A container's health (its monitor's health checks), None without checks or (not
    running) before any."""
    from lamina.runtime.health import check_argv, read_health

    if check_argv(record.config.get("Config", {}).get("Healthcheck")) is None:
        return None
    health = read_health(store.containers_dir / record.id)
    if record.state != "running":
        return health
    return health or {"Status": "starting", "FailingStreak": 0, "Log": []}


def command_of(record: ContainerRecord) -> str:
    """docker's Command of a container: the path, then the arguments, one holding a space in
    single quotes (``sh -c 'exit 3'``)."""
    args = [f"'{a}'" if " " in a else a for a in record.config.get("Args") or [] if a is not None]
    return " ".join([record.config.get("Path") or "", *args]).strip()


def list_containers(store: Store, *, all: bool = False, filters: Sequence[str] = (),
                    last: int = -1, size: bool = False) -> list[ContainerRow]:
    wanted = parse_filters(filters, PS_FILTERS)
    for status in wanted.get("status", []):
        if status not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={status}'")
    ancestors = _ancestor_ids(store, wanted.get("ancestor", []))
    for health in wanted.get("health", []):
        if health not in HEALTH_STATES:
            raise InvalidArgument(f"Unrecognised filter value for health: {health}")
    records = listing(store)
    _created_bounds(records, wanted)
    for key in ("publish", "expose"):  # checked before any container is looked at
        for pattern in wanted.get(key, ()):
            if ":" in pattern:
                raise InvalidArgument(f"filter for '{key}' should not contain ':': {pattern}")
            _port_matches(pattern, set())
    if last > 0:
        records = records[:last]
        all = True
    rows = []
    for record in records:
        if not all and record.state != "running" and "status" not in wanted:
            continue
        state = state_of(record, store)
        if not _matches(record, state, wanted, ancestors):
            continue
        if ("publish" in wanted or "expose" in wanted) and \
                not _port_filters(store, record, wanted):
            continue
        if "health" in wanted:
            checked = health_of(store, record)
            if (checked["Status"] if checked else "none") not in wanted["health"]:
                continue
        rows.append(_row(store, record, state, size))
    return rows


def _created_bounds(records: list[ContainerRecord], wanted: dict[str, list[str]]) -> None:
    """since=/before= name containers; they become times (created after, before them)."""
    for key in ("since", "before"):
        for i, text in enumerate(wanted.get(key, [])):
            found = [r for r in records if r.id.startswith(text) or r.name == text.lstrip("/")]
            if not found:
                raise NotFound(f"no such container {text}")  # (docker's daemon's words)
            wanted[key][i] = repr(found[0].created)


def _ports(config: dict[str, Any]) -> set[str]:
    """The container's exposed ports, as ``80/tcp``."""
    return {p if "/" in p else p + "/tcp" for p in config.get("ExposedPorts") or {}}


def _port_matches(pattern: str, ports: set[str]) -> bool:
    """publish=/expose=: ``80``, ``80/tcp``, or a range ``8000-8080[/tcp]``."""
    number, _, proto = pattern.partition("/")
    proto = proto or "tcp"
    low, _, high = number.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise InvalidArgument(f"invalid filter value: {pattern}") from None
    for port in ports:
        value, _, kind = port.partition("/")
        if kind == proto and value.isdigit() and first <= int(value) <= last:
            return True
    return False


def _port_filters(store: Store, record: ContainerRecord, wanted: dict[str, list[str]]
                  ) -> bool:
    """publish=/expose=, as docker's: over the ports of a running container (one not running
    has none, as its PORTS column shows), publish= by the host's port of each one published,
    expose= by the container's port of each one exposed or published; a port that matches
    either filter lets the container through."""
    if record.state != "running":  # (paused too: its record says running)
        return False
    from lamina.engine.networks import published_ports

    published = published_ports(store, record)
    host = {f"{p['HostPort']}/{p['Proto']}" for p in published}
    inside = _ports(record.config.get("Config", {})) | \
        {f"{p['ContainerPort']}/{p['Proto']}" for p in published}
    return any(_port_matches(p, host) for p in wanted.get("publish", ())) or \
        any(_port_matches(p, inside) for p in wanted.get("expose", ()))


def _ancestor_ids(store: Store, names: list[str]) -> set[str] | None:
    if not names:
        return None
    ids: set[str] = set()
    for name in names:
        try:
            image = store.resolve(name)
        except NotFound:
            continue
        ids.add(str(image.id))
        # docker also matches containers of images built on top of it
        frontier = [str(image.id)]
        while frontier:
            children = [str(c) for c in store.children(frontier.pop())]  # type: ignore[arg-type]
            ids.update(children)
            frontier.extend(children)
    return ids


def _matches(record: ContainerRecord, state: str, wanted: dict[str, list[str]],
             ancestors: set[str] | None) -> bool:
    import re

    if "status" in wanted and state not in wanted["status"]:
        return False
    if "name" in wanted and not any(re.search(p, record.name) for p in wanted["name"]):
        return False
    if "id" in wanted and not any(record.id.startswith(p) for p in wanted["id"]):
        return False
    if ancestors is not None and record.image_id not in ancestors:
        return False
    if "label" in wanted:
        labels = record.config.get("Config", {}).get("Labels") or {}
        if not match_labels(wanted["label"], {str(k): str(v) for k, v in labels.items()}):
            return False
    if "exited" in wanted:
        try:
            codes = {int(v) for v in wanted["exited"]}
        except ValueError:
            raise InvalidArgument(f"invalid filter 'exited={wanted['exited'][0]}'") from None
        if record.state != "exited" or record.exit_code not in codes:
            return False
    if "since" in wanted and not all(record.created > float(t) for t in wanted["since"]):
        return False
    if "before" in wanted and not all(record.created < float(t) for t in wanted["before"]):
        return False
    host = record.config.get("HostConfig", {})
    if "volume" in wanted:
        places = {part for m in _mounts_of(host, record)
                  for part in (m["Source"], m["Destination"])}
        if not any(v.rstrip("/") in places or v in places for v in wanted["volume"]):
            return False
    if "network" in wanted:
        network = host.get("NetworkMode") or "none"
        if network not in wanted["network"]:
            return False
    return True


def _row(store: Store, record: ContainerRecord, state: str, size: bool) -> ContainerRow:
    config = record.config.get("Config", {})
    host = record.config.get("HostConfig", {})
    size_rw = size_root = None
    if size:
        from lamina.store.snapshots import disk_usage

        try:
            size_rw = disk_usage(store.containers_dir / record.id / "upper")
        except OSError:
            size_rw = 0
        try:
            size_root = store.image(record.image_id).size + size_rw
        except NotFound:
            size_root = size_rw
    binds = tuple(m["Destination"] for m in _mounts_of(host, record))
    return ContainerRow(
        id=record.id, image=record.image_name, command=command_of(record),
        created=record.created, state=state, exit_code=record.exit_code,
        started=_started(store, record), name=record.name,
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
        size_rw=size_rw, size_root=size_root, mounts=binds,
        network=",".join((record.config.get("NetworkingConfig") or {}).get("EndpointsConfig")
                         or [host.get("NetworkMode", "")]),
        ports=_ports_column(store, record, config), image_id=record.image_id,
        health=(health_of(store, record) or {}).get("Status", "") if state == "running" else "",
        finished=record.finished if state != "restarting" else
        _restart_time(store, record),
    )


def _started(store: Store, record: ContainerRecord) -> float | None:
    """When it started: after a restart (--restart), when it started again."""
    if record.state == "running" and \
            (record.config.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name", "no") \
            != "no":
        return restart_state(store, record).get("StartedAt") or record.started
    return record.started


def _restart_time(store: Store, record: ContainerRecord) -> float | None:
    """When a restarting container last ended (the monitor's note's time)."""
    try:
        return (store.containers_dir / record.id / "restart.json").stat().st_mtime
    except OSError:
        return record.finished


def _ports_column(store: Store, record: ContainerRecord, config: dict[str, Any]) -> str:
    """PORTS: a running (or paused) container's exposed and published ports; docker shows
    none for one created or stopped."""
    if record.state != "running" or not config.get("ExposedPorts"):
        return ""
    from lamina.engine.networks import ports_column

    return ports_column(store, record)


def _mounts_of(host: dict[str, Any], record: ContainerRecord) -> list[dict[str, Any]]:
    """The container's binds, --mount/--tmpfs mounts and volumes, as inspect shows them."""
    mounts = [_mount(b) for b in host.get("Binds") or [] if b.startswith("/")]
    mounts += [{k: p[k] for k in ("Type", "Name", "Source", "Destination", "Driver", "Mode",
                                  "RW", "Propagation")}
               for p in record.config.get("MountPoints") or ()]
    for m in host.get("Mounts") or []:
        if m["Type"] == "volume":
            continue  # (among the MountPoints, resolved)
        mounts.append({"Type": m["Type"], "Source": m.get("Source", ""),
                       "Destination": m["Target"], "Mode": "", "RW": not m.get("ReadOnly"),
                       "Propagation": "rprivate" if m["Type"] == "bind" else ""})
    return mounts


def _time(epoch: float | None) -> str:
    if not epoch:
        return ZERO_TIME
    from lamina.model.units import format_rfc3339nano

    return format_rfc3339nano(epoch)


def _apparmor_profile(host: dict[str, Any], *, started: bool) -> str:
    """docker's AppArmorProfile: the profile asked for (``--security-opt apparmor=``) until
    the container starts; then the one it runs under, which on a host without AppArmor is
    none (docker ignores the option there, and so does lamina), else the one asked for, or
    "unconfined" (lamina has no default profile of its own)."""
    from lamina.runtime.security import Security, apparmor_enabled

    asked = Security.of(host).apparmor or ""
    if not started:
        return asked
    if not apparmor_enabled():
        return ""
    return asked or "unconfined"


def inspect_container(store: Store, record: ContainerRecord, *, size: bool = False
                      ) -> dict[str, Any]:
    """docker's container inspect object (the fields that mean something here)."""
    cdir = store.containers_dir / record.id
    host = dict(record.config.get("HostConfig", {}))
    host["Runtime"] = host.get("Runtime") or "runc"
    running = record.state == "running"
    state = state_of(record, store)
    restarts = restart_state(store, record) if running else {}
    try:
        image = store.image(record.image_id)
        lower = ":".join(str(store.snapshots.path(layer.chain_id))
                         for layer in reversed(image.layers))
    except NotFound:
        lower = ""
    result: dict[str, Any] = {
        "Id": record.id,
        "Created": _time(record.created),
        "Path": record.config.get("Path", ""),
        "Args": record.config.get("Args", []),
        "State": {
            "Status": state,
            "Running": running,
            "Paused": state == "paused",
            "Restarting": state == "restarting",
            "OOMKilled": False,
            "Dead": False,
            "Pid": (restarts.get("Pid", record.pid) if restarts else record.pid) or 0,
            "ExitCode": record.exit_code or 0,
            "Error": record.error,
            "StartedAt": _time(_started(store, record)),
            "FinishedAt": _time(record.finished),
        },
        "Image": record.image_id,
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "LogPath": str(cdir / f"{record.id}-json.log"),
        "Name": "/" + record.name,
        "RestartCount": restarts.get("RestartCount", record.restart_count) if running
        else record.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": _apparmor_profile(host, started=bool(record.started)),
        "ExecIDs": None,
        "HostConfig": host,
        "GraphDriver": {
            "Data": {
                "LowerDir": f"{cdir / 'init'}:{lower}" if lower else str(cdir / "init"),
                "MergedDir": str(cdir / "rootfs"),
                "UpperDir": str(cdir / "upper"),
                "WorkDir": str(cdir / "work"),
            },
            "Name": "overlay2",
        },
        "Mounts": _mounts_of(host, record),
        "Config": record.config.get("Config", {}),
        "NetworkSettings": _network_settings(store, record),
    }
    health = health_of(store, record)
    if health is not None:
        result["State"]["Health"] = health
    if size:
        row = _row(store, record, state, True)
        result["SizeRw"] = row.size_rw
        result["SizeRootFs"] = row.size_root
    return result


def _network_settings(store: Store, record: ContainerRecord) -> dict[str, Any]:
    from lamina.engine.networks import network_settings

    return network_settings(store, record)


def _mount(bind: str) -> dict[str, Any]:
    parts = bind.split(":")
    mode = parts[2] if len(parts) > 2 else ""
    return {"Type": "bind", "Source": parts[0], "Destination": parts[1] if len(parts) > 1 else "",
            "Mode": mode, "RW": mode != "ro", "Propagation": "rprivate"}
