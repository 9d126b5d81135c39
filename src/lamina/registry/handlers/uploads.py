"""``/v2/<name>/blobs/uploads/``: blob push (end-4a/4b monolithic, end-5/6 chunked), mount
(end-11), status and cancel (end-13).

Sessions live in the metadata and their bytes in the storage's upload area, so any worker can
carry on a session another one started. A chunk must start where the session stands, else 416.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from lamina.errors import Denied, Unauthorized
from lamina.registry.errors import DigestInvalid, NameInvalid, RangeInvalid, RegistryHTTPError
from lamina.registry.handlers.common import (
    PULL,
    PUSH,
    authorize,
    content_length,
    empty,
    has_body,
    registry_of,
    repository,
    require_writable,
)
from lamina.registry.service import parse_digest, validate_name

if TYPE_CHECKING:
    from lamina.registry.metadata import Upload  # the service hands sessions out as these

_CONTENT_RANGE = re.compile(r"\s*(?:bytes[ =])?\s*(\d+)\s*-\s*(\d+)\s*(?:/\s*(?:\d+|\*))?\s*")


def _session_headers(name: str, upload: Upload) -> dict[str, str]:
    # distribution answers "0-0" for an empty session; clients accept it.
    end = max(upload.offset - 1, 0)
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
        "Range": f"0-{end}",
        "Docker-Upload-UUID": upload.id,
    }


def _created(name: str, digest: str) -> Response:
    return empty(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})


async def start_upload(request: Request) -> Response:
    require_writable(request)
    name = repository(request)
    await authorize(request, name, PUSH)
    registry = registry_of(request)
    query = request.query_params
    mount, source = query.get("mount"), query.get("from")
    if mount is not None:
        digest = parse_digest(mount)
        if await registry.blob_size(name, digest) is not None:
            return _created(name, digest)  # already here: nothing to mount
        if source and await _may_pull(request, source):
            size = await registry.mount_blob(name, digest, source)
            if size is not None:
                return _created(name, digest)
        # Not mountable: the spec wants an ordinary upload session instead.
    elif query.get("digest") is not None:
        digest = parse_digest(query["digest"])
        await registry.put_blob(name, digest, request.stream(), content_length(request))
        return _created(name, digest)
    upload = await registry.start_upload(name)
    return empty(202, _session_headers(name, upload))


async def _may_pull(request: Request, source: str) -> bool:
    try:
        validate_name(source)
        await authorize(request, source, PULL)
    except RegistryHTTPError as exc:  # the authorizer's challenge
        if exc.code in ("UNAUTHORIZED", "DENIED"):
            return False
        raise
    except (NameInvalid, Unauthorized, Denied):
        return False
    return True


async def _session(request: Request, *, write: bool = True) -> tuple[str, Upload]:
    if write:
        require_writable(request)
    name = repository(request)
    await authorize(request, name, PUSH)
    upload = await registry_of(request).get_upload(name, request.path_params["upload_id"])
    return name, upload


async def upload_status(request: Request) -> Response:
    name, upload = await _session(request, write=False)
    return empty(204, _session_headers(name, upload))


async def _append(request: Request, name: str, upload: Upload) -> Upload:
    """Check ``Content-Range`` against the session, then stream the body onto it."""
    length: int | None = None
    header = request.headers.get("content-range")
    if header is not None:
        match = _CONTENT_RANGE.fullmatch(header)
        start, end = (int(match[1]), int(match[2])) if match else (-1, -1)
        # A malformed range is answered as an out-of-order one, 416 with the session's state.
        if start != upload.offset or end < start:
            raise RangeInvalid(
                f"chunk {start}-{end} does not continue the upload at offset {upload.offset}",
                headers=_session_headers(name, upload),
            )
        length = end - start + 1
    return await registry_of(request).append_upload(upload, request.stream(), length)


async def patch_upload(request: Request) -> Response:
    name, upload = await _session(request)
    upload = await _append(request, name, upload)
    return empty(202, _session_headers(name, upload))


async def finish_upload(request: Request) -> Response:
    name, upload = await _session(request)
    text = request.query_params.get("digest")
    if not text:
        raise DigestInvalid("the digest query parameter is required")
    digest = parse_digest(text)
    if has_body(request):
        upload = await _append(request, name, upload)
    await registry_of(request).finish_upload(upload, digest)
    return _created(name, digest)


async def cancel_upload(request: Request) -> Response:
    _name, upload = await _session(request)
    await registry_of(request).cancel_upload(upload)
    return empty(204)
