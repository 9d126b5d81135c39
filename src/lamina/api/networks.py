"""Networks and volumes, as lamina has them: the networks ``host`` and ``none`` (a
container shares the host's network or has none); no named volumes (bind mounts only)."""

from __future__ import annotations

import hashlib
from typing import Any

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.api.util import body_object, filter_args

NETWORKS = {"host": "host", "none": "null"}


def register(api: Api) -> None:
    api.route("GET", "/networks")(list_networks)
    api.route("POST", "/networks/create")(create_network)
    api.route("POST", "/networks/prune")(prune_networks)
    api.route("GET", "/networks/{id}")(inspect_network)
    api.route("DELETE", "/networks/{id}")(remove_network)
    api.route("POST", "/networks/{id}/connect")(connect)
    api.route("POST", "/networks/{id}/disconnect")(connect)
    api.route("GET", "/volumes")(list_volumes)
    api.route("POST", "/volumes/create")(create_volume)
    api.route("POST", "/volumes/prune")(prune_volumes)
    api.route("GET", "/volumes/{name}")(inspect_volume)
    api.route("DELETE", "/volumes/{name}")(remove_volume)


def _network(name: str) -> dict[str, Any]:
    return {"Name": name, "Id": hashlib.sha256(name.encode()).hexdigest(),
            "Created": "0001-01-01T00:00:00Z", "Scope": "local", "Driver": NETWORKS[name],
            "EnableIPv4": name == "host", "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": None},
            "Internal": False, "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
            "Options": {}, "Labels": {}}


def _find(text: str) -> str:
    for name in NETWORKS:
        if text == name or (len(text) >= 1 and _network(name)["Id"].startswith(text)):
            return name
    raise HTTPError(404, f"network {text} not found")


async def list_networks(api: Api, req: Request, res: Response) -> None:
    filters = filter_args(req)
    names = list(NETWORKS)
    for key, values in filters.items():
        if key == "name":
            names = [n for n in names if any(v in n for v in values)]
        elif key == "driver":
            names = [n for n in names if NETWORKS[n] in values]
        elif key == "id":
            names = [n for n in names if any(_network(n)["Id"].startswith(v) for v in values)]
        elif key in ("type", "scope"):
            names = [n for n in names if any(v in ("builtin", "local") for v in values)]
        else:
            raise HTTPError(400, f"invalid filter '{key}'")
    await res.json([_network(n) for n in names])


async def inspect_network(api: Api, req: Request, res: Response) -> None:
    await res.json(_network(_find(req.params["id"])))


async def create_network(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    driver = body.get("Driver") or "bridge"
    if driver in ("host", "null"):
        raise HTTPError(403, f"only one instance of \"{driver}\" network is allowed")
    raise HTTPError(400 if driver == "bridge" else 404,
                    f"plugin \"{driver}\" not found" if driver != "bridge" else
                    "lamina cannot create networks: its containers use the host's network "
                    "or none")


async def remove_network(api: Api, req: Request, res: Response) -> None:
    name = _find(req.params["id"])
    raise HTTPError(403, f"{name} is a pre-defined network and cannot be removed")


async def prune_networks(api: Api, req: Request, res: Response) -> None:
    await res.json({"NetworksDeleted": None})


async def connect(api: Api, req: Request, res: Response) -> None:
    _find(req.params["id"])
    raise HTTPError(400, "a lamina container's network is chosen when it is created")


async def list_volumes(api: Api, req: Request, res: Response) -> None:
    filter_args(req)
    await res.json({"Volumes": [], "Warnings": None})


async def create_volume(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    driver = body.get("Driver") or "local"
    if driver != "local":
        raise HTTPError(404, f"plugin \"{driver}\" not found")
    raise HTTPError(400, "lamina has no named volumes: bind mount a directory (-v /path:/dst)")


async def inspect_volume(api: Api, req: Request, res: Response) -> None:
    raise HTTPError(404, f"get {req.params['name']}: no such volume")


async def remove_volume(api: Api, req: Request, res: Response) -> None:
    raise HTTPError(404, f"get {req.params['name']}: no such volume")


async def prune_volumes(api: Api, req: Request, res: Response) -> None:
    await res.json({"VolumesDeleted": None, "SpaceReclaimed": 0})
