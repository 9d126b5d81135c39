"""``POST /build``: the legacy builder's API (docker CLI without buildx falls back to it):
a tar context in the body, the build's output streamed as ``{"stream": ...}`` lines."""

from __future__ import annotations

from typing import Any

from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.api.streams import Pipe, stream
from lamina.api.util import options_with_registry_config


def register(api: Api) -> None:
    api.route("POST", "/build")(build)
    api.route("POST", "/build/prune")(build_prune)


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HTTPError(400, f"invalid {name}: expected a JSON object")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


class _StreamOut:
    """The builder's text output, as docker's ``{"stream": ...}`` messages, line by line."""

    def __init__(self, pipe: Pipe, quiet: bool) -> None:
        self.pipe, self.quiet, self.pending = pipe, quiet, ""

    def write(self, text: str) -> int:
        if self.quiet:
            return len(text)
        self.pending += text
        while "\n" in self.pending:
            line, _, self.pending = self.pending.partition("\n")
            self.pipe.emit({"stream": line + "\n"})
        return len(text)

    def flush(self) -> None:
        if self.pending and not self.quiet:
            self.pipe.emit({"stream": self.pending})
        self.pending = ""


async def build(api: Api, req: Request, res: Response) -> None:
    from lamina.engine.build import BuildRequest, build_image
    from lamina.model.reference import tag_target

    tags = [t for t in req.query.get("t", []) if t]
    for name in tags:
        tag_target(name)  # a bad tag is a 400 before the body is read
    dockerfile = req.arg("dockerfile") or None
    if dockerfile is not None and (dockerfile.startswith("/") or ".." in dockerfile.split("/")):
        raise HTTPError(400, f"the Dockerfile ({dockerfile}) must be inside the build context")
    if req.arg("remote"):
        raise HTTPError(400, "remote build contexts are not supported: send the context tar")
    network = req.arg("networkmode") or "default"
    if network == "bridge":
        network = "default"
    build_args = _string_map(req.json_arg("buildargs"), "buildargs")
    labels = _string_map(req.json_arg("labels"), "labels")
    remote_options = options_with_registry_config(api.engine.remote_options,
                                                  req.headers.get("x-registry-config", ""))
    request = BuildRequest(context="-", dockerfile=dockerfile, tags=tags, build_args=build_args,
                           target=req.arg("target") or None, no_cache=req.flag("nocache"),
                           pull=req.flag("pull"), labels=labels, network=network)
    quiet = req.flag("q")
    body = await req.spool(str(api.engine.store.root))

    def produce(pipe: Pipe) -> None:
        out = _StreamOut(pipe, quiet)
        with body:
            result = build_image(api.engine, request, out=out,  # type: ignore[arg-type]
                                 stdin=body, remote_options=remote_options)
        out.flush()
        pipe.emit({"aux": {"ID": str(result.image_id)}})
        if quiet:
            pipe.emit({"stream": str(result.image_id) + "\n"})
        else:
            pipe.emit({"stream": f"Successfully built {str(result.image_id)[7:19]}\n"})
            for ref in result.tags:
                pipe.emit({"stream": f"Successfully tagged {ref.familiar}\n"})

    await stream(api, res, produce, defer_head=True)


async def build_prune(api: Api, req: Request, res: Response) -> None:
    # lamina's build cache is its layers: `image prune` frees them
    await res.json({"CachesDeleted": None, "SpaceReclaimed": 0})
