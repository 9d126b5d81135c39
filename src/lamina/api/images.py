"""Image routes: list, inspect, history, create (pull or import), push, tag, remove, prune,
get (save), load, search."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.api.streams import Pipe, stream, upload_errors
from lamina.api.util import as_filter_strings, decode_auth, filter_args, options_with_auth

if TYPE_CHECKING:
    from lamina.engine import Engine
    from lamina.engine.pull import PullEvent

IMAGE_FILTERS = ("dangling", "label", "before", "since", "reference", "until")


def register(api: Api) -> None:
    api.refreshers.append(refresh_listings)
    api.route("GET", "/images/json")(list_images)
    api.route("POST", "/images/create")(create)
    api.route("POST", "/images/load")(load)
    api.route("GET", "/images/get")(get_many)
    api.route("GET", "/images/search")(search)
    api.route("POST", "/images/prune")(prune)
    api.route("GET", "/images/{name:path}/json")(inspect)
    api.route("GET", "/images/{name:path}/history")(history)
    api.route("POST", "/images/{name:path}/push")(push)
    api.route("POST", "/images/{name:path}/tag")(tag)
    api.route("GET", "/images/{name:path}/get")(get_one)
    api.route("DELETE", "/images/{name:path}")(remove)


def image_summaries(engine: Engine, *, all: bool, filters: dict[str, list[str]]
                    ) -> list[dict[str, Any]]:
    """docker's ImageSummary per image (the engine lists one row per name)."""
    rows = engine.images(all=all, filters=as_filter_strings(filters))
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        summary = by_id.get(row.id)
        if summary is None:
            summary = by_id[row.id] = {
                "Id": row.id, "ParentId": "", "RepoTags": [], "RepoDigests": [],
                "Created": int(row.created), "Size": row.size, "SharedSize": -1,
                "VirtualSize": row.size, "Labels": row.labels or {}, "Containers": row.containers,
            }
        if row.repository != "<none>":
            if row.tag != "<none>":
                summary["RepoTags"].append(f"{row.repository}:{row.tag}")
            if row.digest != "<none>":
                digest = f"{row.repository}@{row.digest}"
                if digest not in summary["RepoDigests"]:
                    summary["RepoDigests"].append(digest)
    return list(by_id.values())


async def list_images(api: Api, req: Request, res: Response) -> None:
    filters = filter_args(req)
    if req.flag("dangling") if "dangling" in req.query else False:
        filters.setdefault("dangling", ["true"])
    for key in filters:
        if key not in IMAGE_FILTERS:
            raise HTTPError(400, f"invalid filter '{key}'")
    all_images = req.flag("all")
    await res.send(200, await api.call(_listing, api, all_images,
                                       json.dumps(filters, sort_keys=True)))


def _listing(api: Api, all_images: bool, filters_text: str) -> bytes:
    """The answer to GET /images/json. The same listing while nothing changed in the store
    is the same answer (a thousand images take ~10 ms to list, and clients ask again and
    again)."""
    token = api.engine.store.db.change_token()
    key = ("images", all_images, filters_text)
    cached = api.cache.get(key)
    if cached is not None and cached[0] == token:
        return cached[1]
    body = json.dumps(image_summaries(api.engine, all=all_images,
                                      filters=json.loads(filters_text)),
                      separators=(",", ":")).encode() + b"\n"
    if len(api.cache) >= 64:  # (a few filter combinations at most, in practice)
        api.cache.clear()
    api.cache[key] = (token, body)
    return body


def refresh_listings(api: Api) -> None:
    """After a change (a container run and removed changes the images' container counts):
    the listings clients asked for before are made again now, while the client that made
    the change is still finishing, rather than when the next one asks."""
    for key in list(api.cache):
        if key[0] == "images":
            _listing(api, key[1], key[2])


async def inspect(api: Api, req: Request, res: Response) -> None:
    await res.json(await api.call(api.engine.inspect_image, req.params["name"]))


async def history(api: Api, req: Request, res: Response) -> None:
    rows = await api.call(api.engine.history, req.params["name"])
    await res.json([{"Id": r.id, "Created": int(r.created), "CreatedBy": r.created_by,
                     "Tags": list(r.tags) or None, "Size": r.size, "Comment": r.comment}
                    for r in rows])


def _progress(pipe: Pipe) -> Any:
    def report(event: PullEvent) -> None:
        message: dict[str, Any] = {"status": event.status}
        if event.total or event.current:
            message["progressDetail"] = {"current": event.current, "total": event.total}
        else:
            message["progressDetail"] = {}
        if event.id:
            message["id"] = event.id
        pipe.emit(message)

    return report


async def create(api: Api, req: Request, res: Response) -> None:
    """Pull (``fromImage``) or import (``fromSrc``)."""
    if req.arg("fromSrc"):
        await _import(api, req, res)
        return
    name = req.arg("fromImage")
    if not name:
        raise HTTPError(400, "fromImage or fromSrc is required")
    tag = req.arg("tag")
    if tag:
        name = f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
    from lamina.model.reference import Reference

    Reference.parse(name)  # a bad name is a 400 before anything streams
    options = options_with_auth(api.engine.remote_options,
                                decode_auth(req.headers.get("x-registry-auth", "")))
    platform = req.arg("platform") or None
    # docker CLI sends tag=latest unless -a: no tag at all means every tag
    all_tags = not tag and ":" not in name.rsplit("/", 1)[-1] and "@" not in name

    def produce(pipe: Pipe) -> None:
        report = _progress(pipe)
        held: list[PullEvent] = []

        def progress(event: PullEvent) -> None:
            # "Pulling from" waits for the next event, which comes once the manifest is
            # found: a pull that fails first is a plain error answer, as dockerd's is.
            if not held and event.status.startswith("Pulling from"):
                held.append(event)
                return
            while held:
                report(held.pop())
            report(event)

        results = api.engine.pull(name, platform=platform, all_tags=all_tags,
                                  progress=progress, options=options)
        for result in results:
            status = "Downloaded newer image" if result.updated else "Image is up to date"
            pipe.emit({"status": f"Status: {status} for {result.reference.familiar}"})

    await stream(api, res, produce, defer_head=True)


async def _import(api: Api, req: Request, res: Response) -> None:
    if req.arg("fromSrc") != "-":
        raise HTTPError(400, "importing from a URL is not supported: send the tar as the body "
                             "(fromSrc=-)")
    repo = req.arg("repo")
    tag = req.arg("tag")
    reference = f"{repo}:{tag}" if repo and tag else repo or None
    changes = req.query.get("changes", [])
    message = req.arg("message")
    body = await req.spool(str(api.engine.store.root))

    def produce(pipe: Pipe) -> None:
        with body:
            image_id = api.engine.import_(body, reference, changes=changes, message=message)
        pipe.emit({"status": image_id})

    await stream(api, res, produce, defer_head=True)


async def push(api: Api, req: Request, res: Response) -> None:
    name = req.params["name"]
    tag = req.arg("tag")
    if tag:
        name = f"{name}:{tag}"
    from lamina.model.reference import Reference

    Reference.parse(name)
    options = options_with_auth(api.engine.remote_options,
                                decode_auth(req.headers.get("x-registry-auth", "")))
    all_tags = not tag and ":" not in name.rsplit("/", 1)[-1]

    def produce(pipe: Pipe) -> None:
        results = api.engine.push(name, all_tags=all_tags, progress=_progress(pipe),
                                  options=options)
        for result in results:
            pipe.emit({"status": f"{result.reference.tag}: digest: {result.digest} size: "
                                 f"{result.size}", "progressDetail": {}})
            pipe.emit({"progressDetail": {}, "aux": {"Tag": result.reference.tag,
                                                     "Digest": str(result.digest),
                                                     "Size": result.size}})

    await stream(api, res, produce, defer_head=True)


async def tag(api: Api, req: Request, res: Response) -> None:
    repo = req.arg("repo")
    if not repo:
        raise HTTPError(400, "repository name (repo) is required")
    target = f"{repo}:{req.arg('tag')}" if req.arg("tag") else repo
    await api.call(api.engine.tag, req.params["name"], target)
    await res.empty(201)


async def remove(api: Api, req: Request, res: Response) -> None:
    removals, failures = await api.call(api.engine.remove_images, [req.params["name"]],
                                        force=req.flag("force"), prune=not req.flag("noprune"))
    if failures:
        raise failures[0]
    await res.json([{r.action: r.value} for r in removals])


async def prune(api: Api, req: Request, res: Response) -> None:
    filters = filter_args(req)
    all_images = False
    if "dangling" in filters:
        values = [v.lower() for v in filters.pop("dangling")]
        all_images = any(v in ("false", "0") for v in values)
    report = await api.call(api.engine.prune_images, all=all_images,
                            filters=as_filter_strings(filters))
    await res.json({"ImagesDeleted": [{r.action: r.value} for r in report.removals] or None,
                    "SpaceReclaimed": report.reclaimed})


class PipeWriter(io.RawIOBase):
    """A write-only stream whose bytes go to a Pipe (``docker save`` straight to the client)."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self.pipe.put(chunk)
        return len(chunk)


async def _save(api: Api, res: Response, names: list[str]) -> None:
    if not names:
        raise HTTPError(400, "no image names given")
    for name in names:  # a missing image is a 404 before the tar starts
        await api.call(api.engine.store.resolve, name)

    def produce(pipe: Pipe) -> None:
        writer = io.BufferedWriter(PipeWriter(pipe), 1 << 16)
        api.engine.save(names, writer)
        writer.flush()

    await stream(api, res, produce, content_type="application/x-tar", json_errors=False)


async def get_one(api: Api, req: Request, res: Response) -> None:
    await _save(api, res, [req.params["name"]])


async def get_many(api: Api, req: Request, res: Response) -> None:
    await _save(api, res, req.query.get("names", []))


async def load(api: Api, req: Request, res: Response) -> None:
    body = await req.spool(str(api.engine.store.root))
    with body:
        try:
            messages = await api.call(api.engine.load, body)
        except upload_errors() as exc:
            raise HTTPError(400, exc.message) from None
    text = "".join(json_line({"stream": m + "\n"}) for m in messages)
    await res.send(200, text.encode(), "application/json")


def json_line(obj: Any) -> str:
    return json.dumps(obj) + "\n"


async def search(api: Api, req: Request, res: Response) -> None:
    term = req.arg("term")
    if not term:
        raise HTTPError(400, "a search term is required")
    raise HTTPError(501, f"search is not supported: lamina's registries have no search "
                         f"endpoint (term {term!r})")
