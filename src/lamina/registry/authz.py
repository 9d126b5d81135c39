"""The authorization hook between the HTTP handlers and the auth package.

Every handler calls ``await authorizer.authorize(request, repository, actions)`` before it
serves anything. ``repository`` is the repository name (``"team/app"``) or None for the catalog;
``actions`` is a subset of ``{"pull", "push", "delete"}``, or ``{"catalog"}`` for ``/_catalog``
(the ``/v2/`` base endpoint asks with ``repository=None`` and an empty set: "is this client
authenticated at all?").

The authorizer returns None to allow, or raises ``RegistryHTTPError``: ``UNAUTHORIZED`` (401,
with a ``WWW-Authenticate`` header in ``headers``) when credentials are missing or wrong,
``DENIED`` (403) when they are valid but not enough. It may put the account name on
``request.state.account`` for the access log.

A cross-repository mount asks for ``{"pull"}`` on the source repository; if that is refused
the handler falls back to an ordinary upload session, as the spec requires, rather than failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from starlette.requests import Request

PULL = "pull"
PUSH = "push"
DELETE = "delete"
CATALOG = "catalog"


@runtime_checkable
class Authorizer(Protocol):
    async def authorize(
        self, request: Request, repository: str | None, actions: frozenset[str]
    ) -> None:
        """Return None if the request may do ``actions`` on ``repository``, else raise."""
        ...


class AllowAll:
    """The default: no authentication, every action allowed (a registry on loopback)."""

    async def authorize(
        self, request: Request, repository: str | None, actions: frozenset[str]
    ) -> None:
        return None


__all__ = ["CATALOG", "DELETE", "PULL", "PUSH", "AllowAll", "Authorizer"]
