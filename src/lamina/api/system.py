"""System routes: ping, version, info, df, auth, events."""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import Any

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import API_VERSION, MIN_API_VERSION, Api
from lamina.api.util import GO_ARCH, body_object, lamina_version, rfc3339


def register(api: Api) -> None:
    api.route("GET", "/_ping")(ping)
    api.route("HEAD", "/_ping")(ping)
    api.route("GET", "/version")(version)
    api.route("GET", "/info")(info)
    api.route("GET", "/system/df")(system_df)
    api.route("POST", "/auth")(auth)


async def ping(api: Api, req: Request, res: Response) -> None:
    # Builder-Version 1: the legacy builder (POST /build), which docker CLI falls back to
    # when it has no buildx plugin.
    await res.send(200, b"OK", "text/plain; charset=utf-8",
                   {"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate",
                    "Pragma": "no-cache", "Swarm": "inactive"})


def _version_object() -> dict[str, Any]:
    uname = os.uname()
    arch = GO_ARCH.get(uname.machine, uname.machine)
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
               "Arch": arch, "KernelVersion": uname.release, "GitCommit": "",
               "GoVersion": "python" + platform.python_version(), "BuildTime": "",
               "Experimental": "false"}
    return {
        "Platform": {"Name": "lamina"},
        "Components": [{"Name": "Engine", "Version": lamina_version(), "Details": details}],
        "Version": lamina_version(), "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": details["GoVersion"], "Os": "linux", "Arch": arch,
        "KernelVersion": uname.release, "BuildTime": "",
    }


async def version(api: Api, req: Request, res: Response) -> None:
    await res.json(_version_object())


def _info(api: Api) -> dict[str, Any]:
    from lamina.engine.container_views import state_of
    from lamina.engine.containers import listing
    from lamina.runtime.cgroups import host_memory, online_cpus

    store = api.engine.store
    counts = {"running": 0, "paused": 0, "stopped": 0}
    records = listing(store)
    for record in records:
        state = state_of(record)
        counts[state if state in ("running", "paused") else "stopped"] += 1
    uname = os.uname()
    cgroup2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    return {
        "ID": _engine_id(api), "Containers": len(records),
        "ContainersRunning": counts["running"], "ContainersPaused": counts["paused"],
        "ContainersStopped": counts["stopped"], "Images": len(store.images()),
        "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", ""]],
        "Plugins": {"Volume": [], "Network": ["host", "null"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": False,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": False,
        "NGoroutines": 0, "SystemTime": rfc3339(time.time()), "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if cgroup2 else "1",
        "NEventsListener": 0, "KernelVersion": uname.release,
        "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux",
        "Architecture": uname.machine, "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
        "NCPU": online_cpus(), "MemTotal": host_memory(), "GenericResources": None,
        "DockerRootDir": str(store.root), "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""), "NoProxy": os.environ.get("NO_PROXY", ""),
        "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": lamina_version(), "Runtimes": {"runc": {"path": "runc"}},
        "DefaultRuntime": "runc", "Swarm": {"NodeID": "", "NodeAddr": "",
                                             "LocalNodeState": "inactive",
                                             "ControlAvailable": False, "Error": "",
                                             "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"] if cgroup2 else [],
        "Warnings": None,
    }


def _engine_id(api: Api) -> str:
    """A stable id for this store (docker's engine ID): made once, kept under the root."""
    path = api.engine.store.root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        import uuid

        value = str(uuid.uuid4())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        os.replace(tmp, path)
        return value


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


async def info(api: Api, req: Request, res: Response) -> None:
    await res.json(await api.call(_info, api))


def _df(api: Api) -> dict[str, Any]:
    from lamina.api.containers import container_summaries
    from lamina.api.images import image_summaries

    images = image_summaries(api.engine, all=True, filters={})
    containers = container_summaries(api.engine, all=True, filters={}, size=True)
    return {"LayersSize": sum(i["Size"] for i in images), "Images": images,
            "Containers": containers, "Volumes": [], "BuildCache": []}


async def system_df(api: Api, req: Request, res: Response) -> None:
    await res.json(await api.call(_df, api))


async def auth(api: Api, req: Request, res: Response) -> None:
    """Check credentials against a registry, as ``docker login`` asks the engine to."""
    body = body_object(await req.json())
    username = body.get("username") or ""
    password = body.get("password") or ""
    server = body.get("serveraddress") or None
    if not isinstance(username, str) or not isinstance(password, str):
        raise HTTPError(400, "username and password must be strings")
    from lamina.engine import login as _login

    await api.call(_login.check_credentials, server, username, password,
                   options=api.engine.remote_options)
    await res.json({"Status": "Login Succeeded", "IdentityToken": ""})
