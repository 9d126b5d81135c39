"""The registry as an ASGI application: ``create_app(config)`` gives a Starlette app.

Routes follow the OCI Distribution Spec v1.1 (end-1 … end-13). Errors of every kind leave
through one place (``_render``), as the spec's JSON envelope with the code mapped in
``lamina.registry.errors``; every response carries ``Docker-Distribution-API-Version``.

Extra routes (the token endpoint, ``/metrics``) and middleware (metrics, access log) are
plugged in by the caller; the app itself knows nothing of them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina.errors import LaminaError
from lamina.registry.authz import AllowAll, Authorizer
from lamina.registry.config import RegistryConfig
from lamina.registry.errors import (
    NameUnknown,
    RegistryHTTPError,
    ServiceError,
    Unsupported,
    to_wire,
)
from lamina.registry.handlers import base, blobs, catalog, manifests, referrers, tags, uploads
from lamina.registry.service import Registry

log = logging.getLogger(__name__)

API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")
_NAME = "/v2/{name:path}"


class _APIVersionHeader:
    """Adds ``Docker-Distribution-API-Version: registry/2.0`` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), API_VERSION]
            await send(message)

        await self.app(scope, receive, send_with_header)


def _render(request: Request, exc: RegistryHTTPError) -> Response:
    headers = {"Content-Type": "application/json; charset=utf-8", **exc.headers}
    body = exc.body()
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(b"", status_code=exc.status, headers=headers)
    return Response(body, status_code=exc.status, headers=headers)


async def _error(request: Request, exc: Exception) -> Response:
    """A domain error, a backend's (lamina's) or the authorizer's, as the spec's answer."""
    if isinstance(exc, LaminaError):
        log.debug("registry: %s %s: %s", request.method, request.url.path, exc)
    return _render(request, to_wire(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _render(request, to_wire(Unsupported("method not allowed")))
    if exc.status_code == 404:
        return _render(request, to_wire(NameUnknown("no such endpoint")))
    return Response(exc.detail, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette logs the traceback and re-raises after this; the client gets the envelope.
    # This answer leaves from outside every middleware, so it carries the version header itself.
    response = _render(request, to_wire(exc))
    response.headers[API_VERSION[0].decode()] = API_VERSION[1].decode()
    return response


def _routes() -> list[BaseRoute]:
    return [
        Route("/v2/", base.version_check, methods=["GET"]),
        Route("/v2", base.version_check, methods=["GET"]),
        Route("/v2/_catalog", catalog.list_repositories, methods=["GET"]),
        Route(f"{_NAME}/tags/list", tags.list_tags, methods=["GET"]),
        Route(f"{_NAME}/manifests/{{reference}}", manifests.get_manifest, methods=["GET"]),
        Route(f"{_NAME}/manifests/{{reference}}", manifests.put_manifest, methods=["PUT"]),
        Route(f"{_NAME}/manifests/{{reference}}", manifests.delete_manifest, methods=["DELETE"]),
        Route(f"{_NAME}/blobs/uploads/", uploads.start_upload, methods=["POST"]),
        Route(f"{_NAME}/blobs/uploads", uploads.start_upload, methods=["POST"]),
        Route(f"{_NAME}/blobs/uploads/{{upload_id}}", uploads.upload_status, methods=["GET"]),
        Route(f"{_NAME}/blobs/uploads/{{upload_id}}", uploads.patch_upload, methods=["PATCH"]),
        Route(f"{_NAME}/blobs/uploads/{{upload_id}}", uploads.finish_upload, methods=["PUT"]),
        Route(f"{_NAME}/blobs/uploads/{{upload_id}}", uploads.cancel_upload, methods=["DELETE"]),
        Route(f"{_NAME}/blobs/{{digest}}", blobs.get_blob, methods=["GET"]),
        Route(f"{_NAME}/blobs/{{digest}}", blobs.delete_blob, methods=["DELETE"]),
        Route(f"{_NAME}/referrers/{{digest}}", referrers.list_referrers, methods=["GET"]),
    ]


def create_app(
    config: RegistryConfig,
    *,
    authorizer: Authorizer | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
    registry: Registry | None = None,
) -> Starlette:
    """The registry app for ``config``; ``authorizer`` defaults to allowing everything."""
    core = registry or Registry(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        core.close()

    app = Starlette(
        routes=[*extra_routes, *_routes()],
        middleware=[*middleware, Middleware(_APIVersionHeader)],
        exception_handlers={
            RegistryHTTPError: _error,
            ServiceError: _error,
            LaminaError: _error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.registry = core
    app.state.authorizer = authorizer or AllowAll()
    return app


__all__ = ["create_app"]
