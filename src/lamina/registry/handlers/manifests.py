"""``/v2/<name>/manifests/<reference>``: pull (end-3), push (end-7) and delete (end-9).

GET and HEAD serve the stored bytes exactly as pushed, with ``Docker-Content-Digest`` and the
stored media type. PUT checks the size limit, the body against its Content-Type, the digest
against a digest reference, and (in the metadata transaction) that every blob and child
manifest named is in the repository.
"""

from __future__ import annotations

import time

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from lamina.model import mediatype as mt
from lamina.model.manifest import Index
from lamina.model.platform import Platform
from lamina.registry.errors import RegistryHTTPError
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
from lamina.registry.metadata import StoredManifest
from lamina.registry.service import Registry, is_tag

_DEFAULT_PLATFORM = Platform("linux", "amd64")


async def get_manifest(request: Request) -> Response:
    name = repository(request)
    await authorize(request, name, PULL)
    registry = registry_of(request)
    reference = request.path_params["reference"]
    stored = registry.get_manifest(name, reference)
    stored = _negotiate(registry, name, reference, stored, request.headers.getlist("accept"))
    if registry.config.trust.repositories and request.method == "GET":
        # [trust]: only signed manifests are served. A HEAD (digest, type, size: no content)
        # is answered, so that a signer can name what it signs.
        from lamina.trust.serving import refuse_unsigned

        await anyio.to_thread.run_sync(refuse_unsigned, registry, name, reference, stored)
    # A client that finds a manifest by digest may push an index naming it next (docker and
    # skopeo check children so): restart its grace period so online GC leaves it meanwhile.
    if (
        not is_tag(reference)
        and not registry.config.read_only
        and time.time() - stored.pushed > registry.config.gc_grace_seconds / 2
        and not await anyio.to_thread.run_sync(
            registry.metadata.touch_manifest, name, stored.digest
        )
    ):
        raise RegistryHTTPError("MANIFEST_UNKNOWN", f"manifest unknown: {reference}")
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


def _negotiate(
    registry: Registry, name: str, reference: str, stored: StoredManifest, accept: list[str]
) -> StoredManifest:
    """Answer within the client's ``Accept``, as distribution does.

    No Accept (or ``*/*``, or none of the manifest types) gets the manifest as stored. A
    client that names manifest types but not the stored one gets, for an index fetched by tag,
    its linux/amd64 image (what old docker clients need), else MANIFEST_UNKNOWN.
    """
    accepted = {mt.base(part) for header in accept for part in header.split(",")}
    if (
        not accepted
        or stored.media_type in accepted
        or "*/*" in accepted
        or accepted.isdisjoint(mt.MANIFEST_ACCEPT)
    ):
        return stored
    if mt.is_index(stored.media_type) and is_tag(reference):
        index = Index.parse(stored.raw, stored.media_type)
        for descriptor in index.for_platform(_DEFAULT_PLATFORM):
            if descriptor.media_type in accepted:
                child = registry.metadata.get_manifest(name, descriptor.digest)
                if child is not None:
                    return child
    raise RegistryHTTPError(
        "MANIFEST_UNKNOWN",
        f"manifest is {stored.media_type}, which the Accept header does not allow",
    )


async def put_manifest(request: Request) -> Response:
    require_writable(request)
    name = repository(request)
    await authorize(request, name, PUSH)
    registry = registry_of(request)
    reference = request.path_params["reference"]
    if not is_tag(reference) and ":" not in reference:
        raise RegistryHTTPError("MANIFEST_INVALID", f"invalid tag {reference!r}")
    limit = registry.config.max_manifest_size
    length = content_length(request)
    if length is not None and length > limit:
        raise _too_large(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    pushed = await anyio.to_thread.run_sync(
        registry.put_manifest, name, reference, bytes(raw), request.headers.get("content-type")
    )
    headers = {
        "Location": f"/v2/{name}/manifests/{pushed.digest}",
        "Docker-Content-Digest": pushed.digest,
    }
    if pushed.subject is not None:
        headers["OCI-Subject"] = pushed.subject
    return empty(201, headers)


def _too_large(limit: int) -> RegistryHTTPError:
    return RegistryHTTPError(
        "SIZE_INVALID", f"manifest is larger than the limit of {limit} bytes", status=413
    )


async def delete_manifest(request: Request) -> Response:
    require_writable(request)
    name = repository(request)
    await authorize(request, name, DELETE)
    registry = registry_of(request)
    await anyio.to_thread.run_sync(registry.delete_manifest, name, request.path_params["reference"])
    return empty(202)
