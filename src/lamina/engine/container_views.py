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

PS_FILTERS = ("status", "name", "ancestor", "label", "exited", "id")
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
    image_id: str = ""

    def status(self, now: float | None = None) -> str:
        """docker's words: "Up 3 seconds", "Exited (0) 5 seconds ago", "Created"."""
        from lamina.model.units import human_duration

        now = time.time() if now is None else now
        if self.state in ("running", "paused"):
            up = "Up " + human_duration(max(0.0, now - (self.started or now)))
            return up + " (Paused)" if self.state == "paused" else up
        if self.state == "exited":
            ago = human_duration(max(0.0, now - (self.finished or now)))
            return f"Exited ({self.exit_code if self.exit_code is not None else 0}) {ago} ago"
        if self.state == "removing":
            return "Removal In Progress"
        return "Created"


def state_of(record: ContainerRecord) -> str:
    """docker's word for the container's state: the record's, but "paused" for a running
    container whose cgroup is frozen (the kernel keeps that, see lamina.engine.pause)."""
    if record.state == "running":
        from lamina.runtime.cgroups import frozen

        if frozen(record.id):
            return "paused"
    return record.state


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
    records = listing(store)
    if last > 0:
        records = records[:last]
        all = True
    rows = []
    for record in records:
        if not all and record.state != "running" and "status" not in wanted:
            continue
        state = state_of(record)
        if not _matches(record, state, wanted, ancestors):
            continue
        rows.append(_row(store, record, state, size))
    return rows


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
    binds = tuple(b.split(":")[1] for b in host.get("Binds") or [] if ":" in b)
    return ContainerRow(
        id=record.id, image=record.image_name, command=command_of(record),
        created=record.created, state=state, exit_code=record.exit_code,
        started=record.started, finished=record.finished, name=record.name,
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
        size_rw=size_rw, size_root=size_root, mounts=binds,
        network=host.get("NetworkMode", ""), image_id=record.image_id,
    )


def _time(epoch: float | None) -> str:
    if not epoch:
        return ZERO_TIME
    from lamina.model.units import format_rfc3339nano

    return format_rfc3339nano(epoch)


def inspect_container(store: Store, record: ContainerRecord, *, size: bool = False
                      ) -> dict[str, Any]:
    """docker's container inspect object (the fields that mean something here)."""
    cdir = store.containers_dir / record.id
    host = dict(record.config.get("HostConfig", {}))
    host["Runtime"] = host.get("Runtime") or "runc"
    running = record.state == "running"
    state = state_of(record)
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
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": record.pid or 0,
            "ExitCode": record.exit_code or 0,
            "Error": record.error,
            "StartedAt": _time(record.started),
            "FinishedAt": _time(record.finished),
        },
        "Image": record.image_id,
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "LogPath": str(cdir / f"{record.id}-json.log"),
        "Name": "/" + record.name,
        "RestartCount": record.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
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
        "Mounts": [_mount(b) for b in host.get("Binds") or []],
        "Config": record.config.get("Config", {}),
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {},
            "Networks": {host.get("NetworkMode", "none"): {"NetworkID": "", "IPAddress": ""}},
        },
    }
    if size:
        row = _row(store, record, state, True)
        result["SizeRw"] = row.size_rw
        result["SizeRootFs"] = row.size_root
    return result


def _mount(bind: str) -> dict[str, Any]:
    parts = bind.split(":")
    mode = parts[2] if len(parts) > 2 else ""
    return {"Type": "bind", "Source": parts[0], "Destination": parts[1] if len(parts) > 1 else "",
            "Mode": mode, "RW": mode != "ro", "Propagation": "rprivate"}
