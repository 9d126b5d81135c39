"""``/v2/<name>/manifests/<reference>``: pull (end-3), push (end-7) and delete (end-9).

GET and HEAD serve the stored bytes exactly as pushed, with ``Docker-Content-Digest`` and the
stored media type. PUT checks the size limit, the body against its Content-Type, the digest
against a digest reference, and (in the metadata transaction) that every blob and child
manifest named is in the repository.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lamina.errors import LaminaError
from lamina.registry.errors import (
    ManifestInvalid,
    ManifestTooLarge,
    RegistryHTTPError,
)
from lamina.registry.handlers.common import (
    DELETE,
    PULL,
    PUSH,
    authorize,
    content_length,
    empty,
    registry_of,
    repository,
    require_writable,
)
from lamina.registry.service import is_tag


async def get_manifest(request: Request) -> Response:
    name = repository(request)
    await authorize(request, name, PULL)
    reference = request.path_params["reference"]
    stored = await registry_of(request).get_manifest(
        name, reference, request.headers.getlist("accept")
    )
    if registry_of(request).config.trust.repositories and request.method == "GET" \
            and not await _signer(request, name):
        # [trust]: only signed manifests are served. A HEAD (digest, type, size: no content)
        # is answered, so that a signer can name what it signs.
        await registry_of(request).require_signed(name, reference, stored)
    etag = f'"{stored.digest}"'
    headers = {
        "Docker-Content-Digest": stored.digest,
        "Content-Type": stored.media_type,
        "Content-Length": str(len(stored.raw)),
        "ETag": etag,
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else stored.raw
    return Response(body, headers=headers)


async def _signer(request: Request, name: str) -> bool:
    """Whether the client has signed in as one who may push to ``name``: it reads what it is
    about to sign (cosign GETs the manifest it signs). The [trust] policy guards those who
    only pull. In a registry with no logins every client may push, and none is told apart."""
    from lamina.registry.authz import AllowAll

    authorizer = request.app.state.authorizer
    if isinstance(authorizer, AllowAll) or "authorization" not in request.headers:
        return False
    try:
        await authorizer.authorize(request, name, PUSH)
    except (RegistryHTTPError, LaminaError):
        return False
    return True


async def put_manifest(request: Request) -> Response:
    require_writable(request)
    name = repository(request)
    await authorize(request, name, PUSH)
    registry = registry_of(request)
    reference = request.path_params["reference"]
    if not is_tag(reference) and ":" not in reference:
        raise ManifestInvalid(f"invalid tag {reference!r}")
    limit = registry.config.max_manifest_size
    length = content_length(request)
    if length is not None and length > limit:
        raise _too_large(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    pushed = await registry.put_manifest(
        name, reference, bytes(raw), request.headers.get("content-type")
    )
    headers = {
        "Location": f"/v2/{name}/manifests/{pushed.digest}",
        "Docker-Content-Digest": pushed.digest,
    }
    if pushed.subject is not None:
        headers["OCI-Subject"] = pushed.subject
    return empty(201, headers)


def _too_large(limit: int) -> ManifestTooLarge:
    return ManifestTooLarge(f"manifest is larger than the limit of {limit} bytes")


async def delete_manifest(request: Request) -> Response:
    require_writable(request)
    name = repository(request)
    await authorize(request, name, DELETE)
    await registry_of(request).delete_manifest(name, request.path_params["reference"])
    return empty(202)
