"""Container routes: create (HostConfig mapped to lamina's options), the lifecycle, ps,
inspect, logs (docker's stream framing), top, stats, changes, export, archive, commit."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.api.streams import Pipe, stream, upload_errors
from lamina.api.util import as_filter_strings, body_object, console_size, filter_args
from lamina.errors import ContainerError, InvalidArgument, NotFound

if TYPE_CHECKING:
    from lamina.engine import Engine
    from lamina.engine.containers import CreateOptions

STDOUT, STDERR = 1, 2


def register(api: Api) -> None:
    api.route("GET", "/containers/json")(list_containers)
    api.route("POST", "/containers/create")(create)
    api.route("POST", "/containers/prune")(prune)
    api.route("GET", "/containers/{id}/json")(inspect)
    api.route("POST", "/containers/{id}/start")(start)
    api.route("POST", "/containers/{id}/stop")(stop)
    api.route("POST", "/containers/{id}/restart")(restart)
    api.route("POST", "/containers/{id}/kill")(kill)
    api.route("POST", "/containers/{id}/pause")(pause)
    api.route("POST", "/containers/{id}/unpause")(unpause)
    api.route("POST", "/containers/{id}/rename")(rename)
    api.route("POST", "/containers/{id}/wait")(wait)
    api.route("DELETE", "/containers/{id}")(remove)
    api.route("GET", "/containers/{id}/logs")(logs)
    api.route("GET", "/containers/{id}/top")(top)
    api.route("GET", "/containers/{id}/stats")(stats)
    api.route("GET", "/containers/{id}/changes")(changes)
    api.route("GET", "/containers/{id}/export")(export)
    api.route("GET", "/containers/{id}/archive")(get_archive)
    api.route("HEAD", "/containers/{id}/archive")(head_archive)
    api.route("PUT", "/containers/{id}/archive")(put_archive)
    api.route("POST", "/commit")(commit)


# --- create -------------------------------------------------------------------------------

def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPError(400, f"invalid {field}: expected a list of strings")
    return value


def _opt_str(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HTTPError(400, f"invalid {field}: expected a string")
    return value


def _int(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise HTTPError(400, f"invalid {field}: expected an integer")
    return value


# lamina's containers share the host's network or have none; docker's default (bridge)
# becomes lamina's default, as `lamina run` without --network.
_DEFAULT_NETWORKS = ("", "default", "bridge")


# HostConfig fields lamina's containers cannot honour yet, with the values that ask for
# nothing (what clients send by default): anything else is refused, not silently dropped.
_NOTHING: tuple[Any, ...] = (None, False, 0, "", [], {})
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    **{key: _NOTHING for key in (
        "Devices", "DeviceRequests", "DeviceCgroupRules", "VolumesFrom", "Links",
        "Mounts", "Sysctls", "StorageOpt", "CpusetCpus", "CpusetMems", "BlkioWeight",
        "KernelMemory", "VolumeDriver", "BlkioWeightDevice", "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
        "CpuRealtimeRuntime", "OomScoreAdj", "Annotations")},
}


def _checked_host(host: dict[str, Any], memory: int | None) -> dict[str, Any]:
    """The HostConfig entries beyond the common ones that lamina has, each checked by the
    same functions as the CLI's flags (``lamina.engine.hostconfig``), from the text the flag
    would have been: the API's values meet the CLI's rules and messages."""
    from lamina.engine import hostconfig as hc

    out: dict[str, Any] = {}
    policy = host.get("RestartPolicy") or {}
    if not isinstance(policy, dict):
        raise HTTPError(400, "invalid RestartPolicy: expected an object")
    if policy.get("Name"):
        count = _int(policy.get("MaximumRetryCount"), "MaximumRetryCount")
        name = str(policy["Name"])
        out["RestartPolicy"] = hc.restart_policy(f"{name}:{count}" if count else name)
    if host.get("Init"):
        out["Init"] = True
    ulimits = host.get("Ulimits") or []
    if not isinstance(ulimits, list) or not all(isinstance(u, dict) for u in ulimits):
        raise HTTPError(400, "invalid Ulimits: expected a list of objects")
    if ulimits:
        out["Ulimits"] = [hc.ulimit(f"{u.get('Name')}={_int(u.get('Soft'), 'Soft')}:"
                                    f"{_int(u.get('Hard'), 'Hard')}") for u in ulimits]
    shm = _int(host.get("ShmSize"), "ShmSize")
    if shm < 0:
        raise HTTPError(400, f"invalid size: '{shm}'")
    if shm:
        out["ShmSize"] = shm
    tmpfs = host.get("Tmpfs") or {}
    if not isinstance(tmpfs, dict) or not all(isinstance(v, str) for v in tmpfs.values()):
        raise HTTPError(400, "invalid Tmpfs: expected an object of strings")
    if tmpfs:
        out["Tmpfs"] = dict(hc.tmpfs(f"{path}:{opts}" if opts else str(path))
                            for path, opts in tmpfs.items())
    for kind, key in (("ipc", "IpcMode"), ("pid", "PidMode"), ("uts", "UTSMode"),
                      ("cgroupns", "CgroupnsMode"), ("userns", "UsernsMode")):
        value = host.get(key)
        if value:
            if not isinstance(value, str):
                raise HTTPError(400, f"invalid {key}: expected a string")
            out[key] = hc.namespace_mode(kind, value)
    if host.get("OomKillDisable"):
        out["OomKillDisable"] = True
    swap = _int(host.get("MemorySwap"), "MemorySwap")
    if swap:
        if memory is None:
            raise HTTPError(400, "You should always set the Memory limit when using "
                                 "Memoryswap limit, see usage")
        if swap != -1 and swap < memory:
            raise HTTPError(400, "Minimum memoryswap limit should be larger than memory "
                                 "limit, see usage")
        out["MemorySwap"] = swap
    reservation = _int(host.get("MemoryReservation"), "MemoryReservation")
    if reservation:
        if memory is not None and reservation > memory:
            raise HTTPError(400, "Minimum memory limit can not be less than memory "
                                 "reservation limit, see usage")
        out["MemoryReservation"] = reservation
    shares = _int(host.get("CpuShares"), "CpuShares")
    if shares:
        out["CpuShares"] = shares
    size = console_size(host.get("ConsoleSize"))
    if size is not None:
        out["ConsoleSize"] = size
    log = host.get("LogConfig") or {}
    if not isinstance(log, dict) or not isinstance(log.get("Config") or {}, dict):
        raise HTTPError(400, "invalid LogConfig: expected an object")
    if log.get("Type") or log.get("Config"):
        options = [f"{k}={v}" for k, v in (log.get("Config") or {}).items()]
        out["LogConfig"] = hc.log_config(str(log.get("Type") or "") or None, options)
    return out


def _checked_config(body: dict[str, Any]) -> dict[str, Any]:
    """Config entries beyond the common ones (stop signal and timeout, health check,
    domain name), checked as the CLI's flags are."""
    from lamina.engine import hostconfig as hc

    out: dict[str, Any] = {}
    if body.get("StopSignal"):
        out["StopSignal"] = hc.stop_signal(str(body["StopSignal"]))
    if body.get("StopTimeout") is not None:
        out["StopTimeout"] = _int(body["StopTimeout"], "StopTimeout")
    check = body.get("Healthcheck")
    if check:
        if not isinstance(check, dict):
            raise HTTPError(400, "invalid Healthcheck: expected an object")
        test = _strings(check.get("Test"), "Healthcheck.Test")
        durations = {k: _int(check.get(k), f"Healthcheck.{k}")
                     for k in ("Interval", "Timeout", "StartPeriod", "StartInterval")}
        retries = _int(check.get("Retries"), "Healthcheck.Retries")
        if any(v < 0 for v in durations.values()) or retries < 0:
            raise HTTPError(400, "invalid Healthcheck: durations and retries cannot be "
                                 "negative")
        if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
            raise HTTPError(400, f"invalid Healthcheck.Test: {test[0]!r} is not NONE, CMD or "
                                 "CMD-SHELL")
        out["Healthcheck"] = {"Test": test, **{k: v for k, v in durations.items() if v},
                              **({"Retries": retries} if retries else {})}
    if body.get("Domainname"):
        out["Domainname"] = _opt_str(body["Domainname"], "Domainname")
    return out


def create_options(body: dict[str, Any], name: str | None) -> tuple[str, list[str],
                                                                      CreateOptions]:
    """The image, command and CreateOptions a create body asks for (the fields lamina
    supports; one that asks for something lamina cannot do is refused, not dropped)."""
    from lamina.engine.containers import CreateOptions

    image = body.get("Image")
    if not isinstance(image, str) or not image:
        raise HTTPError(400, "Config cannot be empty in order to create a container")
    host = body.get("HostConfig") or {}
    if not isinstance(host, dict):
        raise HTTPError(400, "invalid HostConfig: expected an object")
    network = host.get("NetworkMode") or ""
    if not isinstance(network, str):
        raise HTTPError(400, "invalid NetworkMode")
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    if not isinstance(endpoints, dict):
        raise HTTPError(400, "invalid NetworkingConfig")
    endpoint = endpoints.get(network) or (endpoints.get("bridge") or endpoints.get("default")
                                          if network in _DEFAULT_NETWORKS else None) or {}
    network = "bridge" if network in _DEFAULT_NETWORKS else network
    publish = _publish_specs(host.get("PortBindings"))
    if not isinstance(endpoint, dict):
        raise HTTPError(400, "invalid NetworkingConfig")
    binds = _strings(host.get("Binds"), "Binds")
    bound = {b.split(":")[1] for b in binds if ":" in b}
    # Config.Volumes: an anonymous volume at each path no bind or named volume covers
    anonymous = [path for path in (body.get("Volumes") or {}) if path not in bound]
    for key, value in host.items():
        if key in _UNSUPPORTED and value not in _UNSUPPORTED[key]:
            raise HTTPError(400, f"HostConfig.{key} {json.dumps(value)} is not supported by "
                                 "lamina")
    entrypoint_raw = body.get("Entrypoint")
    entrypoint: str | list[str] | None
    if entrypoint_raw is None:
        entrypoint = None
    else:
        parts = _strings(entrypoint_raw, "Entrypoint")
        entrypoint = [] if parts in ([], [""]) else parts
    memory = _int(host.get("Memory"), "Memory") or None
    if memory is not None and memory < 6 * 1024 * 1024:
        raise HTTPError(400, "Minimum memory limit allowed is 6MB")
    nano = _int(host.get("NanoCpus"), "NanoCpus")
    quota, period = _int(host.get("CpuQuota"), "CpuQuota"), _int(host.get("CpuPeriod"),
                                                                 "CpuPeriod")
    cpus = nano / 1e9 if nano else (quota / (period or 100000) if quota > 0 else None)
    pids = host.get("PidsLimit")
    pids = _int(pids, "PidsLimit") if pids is not None else None
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise HTTPError(400, "invalid Labels: expected an object")
    runtime = _opt_str(host.get("Runtime"), "Runtime")
    options = CreateOptions(
        name=name.lstrip("/") if name else None,
        env=_strings(body.get("Env"), "Env"),
        workdir=_opt_str(body.get("WorkingDir"), "WorkingDir"),
        user=_opt_str(body.get("User"), "User"),
        entrypoint=entrypoint,
        volumes=[*binds, *anonymous],
        network=network,
        hostname=_opt_str(body.get("Hostname"), "Hostname"),
        memory=memory, cpus=cpus,
        pids_limit=pids if pids and pids > 0 else None,
        read_only=bool(host.get("ReadonlyRootfs")),
        cap_add=_strings(host.get("CapAdd"), "CapAdd"),
        cap_drop=_strings(host.get("CapDrop"), "CapDrop"),
        labels=[f"{k}={v}" for k, v in labels.items()],
        tty=bool(body.get("Tty")),
        interactive=bool(body.get("OpenStdin")),
        autoremove=bool(host.get("AutoRemove")),
        runtime=runtime,
        security_opt=_strings(host.get("SecurityOpt"), "SecurityOpt"),
        privileged=bool(host.get("Privileged")),
        group_add=_strings(host.get("GroupAdd"), "GroupAdd"),
        host_config=_checked_host(host, memory),
        config=_checked_config(body),
        publish=publish, publish_all=bool(host.get("PublishAllPorts")),
        expose=[str(p) for p in (body.get("ExposedPorts") or {})],
        ip=((endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None),
        add_host=_strings(host.get("ExtraHosts"), "ExtraHosts"),
        dns=_strings(host.get("Dns"), "Dns"), dns_search=_strings(host.get("DnsSearch"),
                                                                  "DnsSearch"),
        dns_option=_strings(host.get("DnsOptions"), "DnsOptions"),
        network_alias=_strings(endpoint.get("Aliases"), "Aliases"),
        mac_address=_opt_str(body.get("MacAddress") or endpoint.get("MacAddress"),
                             "MacAddress"),
        detach=not (body.get("AttachStdout") or body.get("AttachStderr")
                    or body.get("AttachStdin")),
    )
    return image, _strings(body.get("Cmd"), "Cmd"), options


def _publish_specs(bindings: Any) -> list[str]:
    """HostConfig.PortBindings as ``-p`` specs."""
    if not bindings:
        return []
    if not isinstance(bindings, dict):
        raise HTTPError(400, "invalid PortBindings: expected an object")
    specs = []
    for port, binds in bindings.items():
        for bind in binds or [{}]:
            if not isinstance(bind, dict):
                raise HTTPError(400, "invalid PortBindings")
            host_ip, host_port = bind.get("HostIp") or "", bind.get("HostPort") or ""
            specs.append(f"{host_ip}:{host_port}:{port}" if host_ip else
                         f"{host_port}:{port}" if host_port else str(port))
    return specs


async def create(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    name = req.arg("name") or None
    image, command, options = create_options(body, name)
    from lamina.model.reference import Reference

    Reference.parse(image)
    try:
        record = await api.call(api.engine.create_container, image, command, options)
    except NotFound as exc:
        if "container" in exc.message.lower() or "network" in exc.message.lower() or \
                "volume" in exc.message.lower():
            raise
        raise HTTPError(404, f"No such image: {_familiar(image)}") from None
    await res.json({"Id": record.id, "Warnings": []}, 201)


def _familiar(image: str) -> str:
    from lamina.model.reference import Reference

    try:
        ref = Reference.parse(image)
    except InvalidArgument:
        return image
    return ref.with_default_tag().familiar if ref.digest is None else ref.familiar


# --- list and inspect -----------------------------------------------------------------------

def container_summaries(engine: Engine, *, all: bool, filters: dict[str, list[str]],
                        size: bool = False, limit: int = -1) -> list[dict[str, Any]]:
    rows = engine.containers(all=all, filters=as_filter_strings(filters), last=limit, size=size)
    out = []
    for row in rows:
        summary: dict[str, Any] = {
            "Id": row.id, "Names": ["/" + row.name], "Image": row.image,
            "ImageID": row.image_id, "Command": row.command,
            "Created": int(row.created), "Ports": _summary_ports(engine, row),
            "Labels": row.labels or {}, "State": row.state, "Status": row.status(),
            "HostConfig": {"NetworkMode": row.network.split(",")[0] or "bridge"},
            "NetworkSettings": {"Networks": {name: {"NetworkID": "", "IPAddress": ""}
                                             for name in row.network.split(",") if name}},
            "Mounts": [_mount_point(m) for m in row.mounts],
        }
        if size:
            summary["SizeRw"] = row.size_rw or 0
            summary["SizeRootFs"] = row.size_root or 0
        out.append(summary)
    return out


def _summary_ports(engine: Engine, row: Any) -> list[dict[str, Any]]:
    if not row.ports:
        return []
    out: list[dict[str, Any]] = []
    for item in row.ports.split(", "):  # ps's column: "0.0.0.0:8080->80/tcp" or "80/tcp"
        published, _, private = item.rpartition("->")
        number, _, proto = private.partition("/")
        entry: dict[str, Any] = {"PrivatePort": int(number), "Type": proto}
        if published:
            host_ip, _, host_port = published.rpartition(":")
            entry.update(IP=host_ip, PublicPort=int(host_port))
        out.append(entry)
    return out


def _mount_point(destination: str) -> dict[str, Any]:
    return {"Type": "bind", "Source": "", "Destination": destination, "Mode": "", "RW": True,
            "Propagation": "rprivate"}


async def list_containers(api: Api, req: Request, res: Response) -> None:
    limit = req.int_arg("limit", -1)
    filters = filter_args(req)

    def answer() -> bytes:  # (encoded in the worker too: not on the event loop)
        rows = container_summaries(api.engine, all=req.flag("all"), filters=filters,
                                   size=req.flag("size"),
                                   limit=limit if limit is not None and limit > 0 else -1)
        return json.dumps(rows, separators=(",", ":")).encode() + b"\n"

    await res.send(200, await api.call(answer))


# HostConfig fields clients read without checking (docker-py reads LogConfig.Type after
# every attached run): docker's defaults, where the engine's object has none.
_HOST_DEFAULTS: dict[str, Any] = {
    "LogConfig": {"Type": "json-file", "Config": {}},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "PortBindings": {}, "Privileged": False, "PublishAllPorts": False, "Dns": [],
    "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "VolumesFrom": None,
    "SecurityOpt": None, "Tmpfs": None, "UTSMode": "", "IpcMode": "private",
    "PidMode": "", "CgroupnsMode": "host", "ShmSize": 67108864, "Devices": [],
    "Ulimits": None, "ConsoleSize": [0, 0], "Isolation": "", "OomKillDisable": False,
}


async def inspect(api: Api, req: Request, res: Response) -> None:
    result = await api.call(api.engine.inspect_container, req.params["id"],
                            size=req.flag("size"))
    host = result.setdefault("HostConfig", {})
    for key, value in _HOST_DEFAULTS.items():
        if host.get(key) is None and value is not None:
            host[key] = value
        host.setdefault(key, value)
    await res.json(result)


# --- lifecycle ------------------------------------------------------------------------------

async def start(api: Api, req: Request, res: Response) -> None:
    from lamina.api.attach import start_attached

    record = await api.call(api.engine.container, req.params["id"])
    if record.state == "running":
        await res.empty(304)
        return
    session = api.attaching.pop(record.id, None)
    api.starting.add(record.id)
    try:
        if session is not None:
            await start_attached(api, record, session)
        else:
            await api.call(api.engine.start, record.id)
    finally:
        api.starting.discard(record.id)
        api.changed()
    await res.empty(204)


def _timeout(req: Request) -> float | None:
    value = req.int_arg("t")
    if value is None:
        value = req.int_arg("timeout")
    if value is None:
        return None
    return float(value) if value >= 0 else 10**9


async def stop(api: Api, req: Request, res: Response) -> None:
    record = await api.call(api.engine.container, req.params["id"])
    if record.state != "running":
        await res.empty(304)
        return
    await api.call(api.engine.stop, record.id, timeout=_timeout(req),
                   signal=req.arg("signal") or None)
    await res.empty(204)


async def restart(api: Api, req: Request, res: Response) -> None:
    await api.call(api.engine.restart, req.params["id"], timeout=_timeout(req),
                   signal=req.arg("signal") or None)
    await res.empty(204)


async def kill(api: Api, req: Request, res: Response) -> None:
    record = await api.call(api.engine.container, req.params["id"])
    if record.state != "running":
        raise HTTPError(409, f"cannot kill container: {req.params['id']}: container "
                             f"{record.id} is not running")
    await api.call(api.engine.kill, record.id, req.arg("signal") or "KILL")
    await res.empty(204)


async def pause(api: Api, req: Request, res: Response) -> None:
    await api.call(api.engine.pause, req.params["id"])
    await res.empty(204)


async def unpause(api: Api, req: Request, res: Response) -> None:
    await api.call(api.engine.unpause, req.params["id"])
    await res.empty(204)


async def rename(api: Api, req: Request, res: Response) -> None:
    new_name = req.arg("name")
    if not new_name:
        raise HTTPError(400, "the new name (name) is required")
    await api.call(api.engine.rename, req.params["id"], new_name.lstrip("/"))
    await res.empty(204)


def _wait_start(api: Api, container_id: str, condition: str, started: float | None) -> None:
    """For next-exit and removed: block until the container has (re)started, as docker's
    CLI waits before it starts the container; or, for removed, has exited already. A start
    through this service wakes it at once (after its attached pump is in place, which the
    wait then follows); one by another process is seen at the next look."""
    store = api.engine.store
    delay = 0.005
    while True:
        if container_id in api.starting:  # (running already, maybe, but not yet pumped)
            api.pause(delay)
            continue
        record = store.containers.get(container_id)
        if record is None or record.state == "running" or \
                (record.started or 0) != (started or 0):
            return
        if condition == "removed" and record.state == "exited":
            return
        api.pause(delay)
        delay = min(delay * 2, 0.1)


def _wait_exit(engine: Engine, container_id: str) -> int:
    from lamina.engine.containers import find, wait_exit

    store = engine.store
    try:
        code = wait_exit(store, container_id)
    except NotFound:
        return 0
    record = store.containers.get(container_id)
    if record is not None and record.state == "running":
        record = find(store, container_id)
        if record.exit_code is not None:
            return record.exit_code
    return code if code is not None else 0


def _wait_removed(api: Api, container_id: str) -> None:
    delay = 0.005
    while api.engine.store.containers.get(container_id) is not None:
        api.pause(delay)
        delay = min(delay * 2, 0.1)


async def wait(api: Api, req: Request, res: Response) -> None:
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise HTTPError(400, f"invalid condition: {condition!r}")
    record = await api.call(api.engine.container, req.params["id"])
    # docker sends the headers first, so that the client knows the wait is under way
    await res.start_stream()
    if condition in ("next-exit", "removed") and record.state != "running":
        await api.call(_wait_start, api, record.id, condition, record.started)
    attached = api.pumps.get(record.id)
    code: int | None = None
    if attached is not None:
        # started attached here: the exit code comes to the attached side, which records it
        code = await attached
    if code is None:  # not attached here, or the client detached
        code = await api.call(_wait_exit, api.engine, record.id)
    if condition == "removed":
        await api.call(_wait_removed, api, record.id)
    await res.chunk(json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n")
    await res.end_stream()


async def remove(api: Api, req: Request, res: Response) -> None:
    if req.flag("link"):
        raise HTTPError(400, "links are not supported: lamina has no legacy links")
    try:
        await api.call(api.engine.remove_container, req.params["id"], force=req.flag("force"))
    finally:
        api.changed()
    await res.empty(204)


async def prune(api: Api, req: Request, res: Response) -> None:
    filters = as_filter_strings(filter_args(req))
    removed, reclaimed = await api.call(api.engine.prune_containers, filters)
    await res.json({"ContainersDeleted": removed or None, "SpaceReclaimed": reclaimed})


# --- logs -----------------------------------------------------------------------------------

def frame(stream_id: int, data: bytes) -> bytes:
    """docker's multiplexed stream: 8-byte header (stream, 0, 0, 0, big-endian size)."""
    return struct.pack(">BxxxI", stream_id, len(data)) + data


def _parse_time(text: str, field: str) -> float | None:
    """since/until: unix seconds (with a fraction), as docker's client sends them."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise HTTPError(400, f"invalid value for {field}: {text!r}") from None


def _entry_epoch(text: str) -> float:
    from datetime import datetime

    try:
        head, _, frac = text.rstrip("Z").partition(".")
        base = datetime.fromisoformat(head + "+00:00").timestamp()
        return base + (float("0." + frac) if frac.isdigit() else 0.0)
    except ValueError:
        return 0.0


async def logs(api: Api, req: Request, res: Response) -> None:
    want_out, want_err = req.flag("stdout"), req.flag("stderr")
    if not (want_out or want_err):
        raise HTTPError(400, "Bad parameters: you must choose at least one stream")
    record = await api.call(api.engine.container, req.params["id"])
    tty = bool(record.config.get("Config", {}).get("Tty"))
    follow, timestamps = req.flag("follow"), req.flag("timestamps")
    tail = req.arg("tail") or "all"
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise HTTPError(400, f"invalid value for tail: {tail!r}")
    if tail.startswith("-"):
        tail = "all"
    since, until = _parse_time(req.arg("since"), "since"), _parse_time(req.arg("until"),
                                                                        "until")
    entries: Iterator[Any] = await api.call(api.engine.logs, record.id, follow=follow,
                                           tail=tail)

    def produce(pipe: Pipe) -> None:
        for entry in entries:
            if (entry.stream == "stderr" and not want_err) or (
                    entry.stream != "stderr" and not want_out):
                continue
            if since is not None or until is not None:
                when = _entry_epoch(entry.time)
                if since is not None and when < since:
                    continue
                if until is not None and when > until:
                    if follow:
                        return
                    continue
            data = entry.text.encode()
            if timestamps:
                data = entry.time.encode() + b" " + data
            pipe.put(data if tty else frame(STDERR if entry.stream == "stderr" else STDOUT,
                                            data))

    content_type = "application/vnd.docker.raw-stream" if tty else \
        "application/vnd.docker.multiplexed-stream"
    await stream(api, res, produce, content_type=content_type, json_errors=False)


# --- top, stats, changes, export ------------------------------------------------------------

async def top(api: Api, req: Request, res: Response) -> None:
    ps_args = req.arg("ps_args").split() if req.arg("ps_args") else []
    text = await api.call(api.engine.top, req.params["id"], ps_args)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise HTTPError(500, "ps gave no output")
    titles = lines[0].split()
    processes = [line.split(None, len(titles) - 1) for line in lines[1:]]
    await res.json({"Titles": titles, "Processes": processes})


def _stats_object(engine: Engine, record: Any, previous: dict[str, Any] | None
                  ) -> dict[str, Any]:
    from lamina.runtime.cgroups import online_cpus, system_cpu_ns, usage

    now = time.time()
    running = record.state == "running"
    reading = usage(record.id) if running else None
    cpus = online_cpus()
    cpu_stats = {
        "cpu_usage": {"total_usage": reading.cpu_ns if reading else 0,
                      "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "system_cpu_usage": system_cpu_ns(), "online_cpus": cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    memory = reading.memory if reading else 0
    limit = reading.memory_limit if reading else 0
    from lamina.model.units import format_rfc3339nano

    io_entries = []
    if reading:
        io_entries = [{"major": 0, "minor": 0, "op": "read", "value": reading.read_bytes},
                      {"major": 0, "minor": 0, "op": "write", "value": reading.written_bytes}]
    return {
        "read": format_rfc3339nano(now),
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "id": record.id, "name": "/" + record.name,
        "pids_stats": {"current": reading.pids if reading else 0},
        "blkio_stats": {"io_service_bytes_recursive": io_entries or None},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu_stats,
        "precpu_stats": previous["cpu_stats"] if previous else {
            "cpu_usage": {"total_usage": 0}, "throttling_data": {}},
        "memory_stats": {"usage": memory, "limit": limit, "stats": {}} if running else {},
        "networks": {},
    }


async def stats(api: Api, req: Request, res: Response) -> None:
    record = await api.call(api.engine.container, req.params["id"])
    streaming = req.flag("stream", True) and not req.flag("one-shot")
    if not streaming:
        first = await api.call(_stats_object, api.engine, record, None)
        if req.flag("one-shot"):
            await res.json(first)
            return
        await asyncio.sleep(1.0)  # docker's non-streamed answer carries a precpu reading
        await res.json(await api.call(_stats_object, api.engine, record, first))
        return

    def produce(pipe: Pipe) -> None:
        previous = None
        while True:
            current = api.engine.container(record.id)
            obj = _stats_object(api.engine, current, previous)
            pipe.emit(obj)
            if current.state != "running":
                return
            previous = obj
            time.sleep(1.0)

    await stream(api, res, produce, json_errors=False)


async def changes(api: Api, req: Request, res: Response) -> None:
    kinds = {"C": 0, "A": 1, "D": 2}
    found = await api.call(api.engine.diff, req.params["id"])
    await res.json([{"Path": path, "Kind": kinds[kind]} for kind, path in found] or None)


class _PipeFile:
    """A write-only file whose bytes go to the client through a Pipe."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= 1 << 16:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            self.pipe.put(bytes(self.buffer))
            self.buffer.clear()


async def export(api: Api, req: Request, res: Response) -> None:
    record = await api.call(api.engine.container, req.params["id"])

    def produce(pipe: Pipe) -> None:
        out = _PipeFile(pipe)
        api.engine.export(record.id, out)  # type: ignore[arg-type]
        out.flush()

    await stream(api, res, produce, content_type="application/x-tar", json_errors=False)


# --- archive (docker cp) --------------------------------------------------------------------

def _path_arg(req: Request) -> str:
    path = req.arg("path")
    if not path:
        raise HTTPError(400, "path is required")
    return path


def _stat_header(stat: dict[str, Any]) -> dict[str, str]:
    encoded = base64.b64encode(json.dumps(stat).encode()).decode()
    return {"X-Docker-Container-Path-Stat": encoded}


async def head_archive(api: Api, req: Request, res: Response) -> None:
    from lamina.engine.copy import stat_path

    stat = await api.call(stat_path, api.engine.store, req.params["id"], _path_arg(req))
    await res.send(200, b"", "application/x-tar", _stat_header(stat))


async def get_archive(api: Api, req: Request, res: Response) -> None:
    if req.method == "HEAD":
        await head_archive(api, req, res)
        return
    from lamina.engine.copy import copy_from, stat_path

    path = _path_arg(req)
    stat = await api.call(stat_path, api.engine.store, req.params["id"], path)

    def produce(pipe: Pipe) -> None:
        out = _PipeFile(pipe)
        copy_from(api.engine.store, req.params["id"], path, "-", out)  # type: ignore[arg-type]
        out.flush()

    res_headers = _stat_header(stat)
    await res.start_stream("application/x-tar", headers=res_headers)
    await _stream_started(api, res, produce)


async def _stream_started(api: Api, res: Response, produce: Any) -> None:
    """stream(), for an answer whose head is already written (with extra headers)."""
    original = res.start_stream

    async def already(*args: Any, **kwargs: Any) -> None:
        return None

    res.start_stream = already  # type: ignore[method-assign]
    try:
        await stream(api, res, produce, json_errors=False)
    finally:
        res.start_stream = original  # type: ignore[method-assign]


async def put_archive(api: Api, req: Request, res: Response) -> None:
    from lamina.engine.copy import copy_to

    path = _path_arg(req)
    record = await api.call(api.engine.container, req.params["id"])
    body = await req.spool(str(api.engine.store.root))
    with body:
        try:
            await api.call(copy_to, api.engine.store, record.id, "-", path, body,
                           archive=req.flag("copyUIDGID"))
        except (ContainerError, upload_errors()) as exc:
            raise HTTPError(400, exc.message) from None
    await res.empty(200)


# --- commit ---------------------------------------------------------------------------------

async def commit(api: Api, req: Request, res: Response) -> None:
    container = req.arg("container")
    if not container:
        raise HTTPError(400, "container is required")
    repo, tag = req.arg("repo"), req.arg("tag")
    reference = f"{repo}:{tag}" if repo and tag else repo or None
    body = await req.json()
    if body is not None and not isinstance(body, dict):
        raise HTTPError(400, "invalid JSON body: expected an object")
    changes = list(req.query.get("changes", []))
    changes = [c for text in changes for c in text.split("\n") if c.strip()]
    image_id = await api.call(api.engine.commit, container, reference,
                              message=req.arg("comment"), author=req.arg("author"),
                              changes=changes)
    await res.json({"Id": str(image_id)}, 201)
