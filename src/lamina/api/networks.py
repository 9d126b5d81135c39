"""Networks and volumes: the engine's network and volume verbs as docker's routes."""

from __future__ import annotations

from typing import Any

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.api.util import as_filter_strings, body_object, filter_args


def register(api: Api) -> None:
    api.route("GET", "/networks")(list_networks)
    api.route("POST", "/networks/create")(create_network)
    api.route("POST", "/networks/prune")(prune_networks)
    api.route("GET", "/networks/{id}")(inspect_network)
    api.route("DELETE", "/networks/{id}")(remove_network)
    api.route("POST", "/networks/{id}/connect")(connect)
    api.route("POST", "/networks/{id}/disconnect")(disconnect)
    api.route("GET", "/volumes")(list_volumes)
    api.route("POST", "/volumes/create")(create_volume)
    api.route("POST", "/volumes/prune")(prune_volumes)
    api.route("GET", "/volumes/{name}")(inspect_volume)
    api.route("DELETE", "/volumes/{name}")(remove_volume)


def _strings(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise HTTPError(400, f"invalid {field}: expected an object of strings")
    return {str(k): v for k, v in value.items()}


async def list_networks(api: Api, req: Request, res: Response) -> None:
    filters = as_filter_strings(filter_args(req))

    def listing() -> list[dict[str, Any]]:
        return [api.engine.inspect_network(n["Id"]) for n in api.engine.networks(filters)]

    await res.json(await api.call(listing))


async def inspect_network(api: Api, req: Request, res: Response) -> None:
    await res.json(await api.call(api.engine.inspect_network, req.params["id"]))


async def create_network(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise HTTPError(400, "network name is required")
    if body.get("EnableIPv6"):
        raise HTTPError(400, "lamina networks are IPv4 only")
    ipam = body.get("IPAM") or {}
    configs = ipam.get("Config") or [] if isinstance(ipam, dict) else []
    if not isinstance(configs, list) or len(configs) > 1:
        raise HTTPError(400, "lamina networks have one IPv4 subnet")
    config = configs[0] if configs else {}
    if not isinstance(config, dict):
        raise HTTPError(400, "invalid IPAM config")
    net = await api.call(
        api.engine.create_network, name, driver=body.get("Driver") or "bridge",
        subnet=config.get("Subnet") or None, gateway=config.get("Gateway") or None,
        ip_range=config.get("IPRange") or None, internal=bool(body.get("Internal")),
        labels=_strings(body.get("Labels"), "Labels"),
        options=_strings(body.get("Options"), "Options"),
        attachable=bool(body.get("Attachable")))
    await res.json({"Id": net["Id"], "Warning": ""}, 201)


async def remove_network(api: Api, req: Request, res: Response) -> None:
    await api.call(api.engine.remove_network, req.params["id"])
    await res.empty(204)


async def prune_networks(api: Api, req: Request, res: Response) -> None:
    filters = as_filter_strings(filter_args(req))
    removed = await api.call(api.engine.prune_networks, filters)
    await res.json({"NetworksDeleted": removed or None})


async def connect(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise HTTPError(400, "container is required")
    endpoint = body.get("EndpointConfig") or {}
    aliases = endpoint.get("Aliases") or []
    ip = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
    await api.call(api.engine.connect_network, req.params["id"], container,
                   aliases=[a for a in aliases if isinstance(a, str)], ip=ip)
    await res.empty(200)


async def disconnect(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise HTTPError(400, "container is required")
    await api.call(api.engine.disconnect_network, req.params["id"], container,
                   force=bool(body.get("Force")))
    await res.empty(200)


async def list_volumes(api: Api, req: Request, res: Response) -> None:
    filters = as_filter_strings(filter_args(req))
    volumes = await api.call(api.engine.volumes, filters)
    await res.json({"Volumes": [v.inspect() for v in volumes], "Warnings": None})


async def create_volume(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    name = body.get("Name") or None
    if name is not None and not isinstance(name, str):
        raise HTTPError(400, "invalid Name")
    volume = await api.call(api.engine.create_volume, name, driver=body.get("Driver") or "local",
                            labels=_strings(body.get("Labels"), "Labels"),
                            options=_strings(body.get("DriverOpts"), "DriverOpts"))
    await res.json(volume.inspect(), 201)


async def inspect_volume(api: Api, req: Request, res: Response) -> None:
    volume = await api.call(api.engine.volume, req.params["name"])
    await res.json(volume.inspect())


async def remove_volume(api: Api, req: Request, res: Response) -> None:
    await api.call(api.engine.remove_volume, req.params["name"], force=req.flag("force"))
    await res.empty(204)


async def prune_volumes(api: Api, req: Request, res: Response) -> None:
    filters = filter_args(req)
    everything = any(v.lower() in ("true", "1") for v in filters.pop("all", []))
    removed, reclaimed = await api.call(api.engine.prune_volumes, as_filter_strings(filters),
                                        all=everything)
    await res.json({"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed})
