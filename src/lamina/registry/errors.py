"""The registry's wire errors: the OCI error envelope and the one table that maps errors to it.

Handlers raise ``RegistryHTTPError(code, message)``; the app renders it as the spec's JSON
envelope ``{"errors": [{"code", "message", "detail"}]}`` with the status from ``ERROR_TABLE``.
Errors of ``lamina.errors`` that escape a handler are translated by ``from_lamina_error``, so the
mapping from lamina's exception hierarchy to OCI codes lives here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from lamina import errors

# code -> (HTTP status, the spec's default message). OCI Distribution Spec v1.1, "Error Codes",
# plus RANGE_INVALID (416, as distribution answers out-of-order chunks), UNKNOWN (500) and
# UNAVAILABLE (503, a backend fault, as distribution's errcode). A
# manifest over the size limit is SIZE_INVALID with status 413, as the spec asks.
ERROR_TABLE: Final[dict[str, tuple[int, str]]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "RANGE_INVALID": (416, "invalid content range"),
    "UNKNOWN": (500, "unknown error"),
    # A backend (database, object store) failed: the client may retry, as distribution says.
    "UNAVAILABLE": (503, "service unavailable"),
}


class RegistryHTTPError(Exception):
    """An error answered to a client: an OCI code, a message, optional detail and headers.

    ``status`` defaults to the table's status for ``code``; pass it only to deviate on purpose
    (a 401 from the token server, say). ``headers`` go out with the response, e.g. the
    ``WWW-Authenticate`` challenge of a 401.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if code not in ERROR_TABLE:
            raise ValueError(f"unknown registry error code {code!r}")
        default_status, default_message = ERROR_TABLE[code]
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{code}: {self.message}")

    def body(self) -> bytes:
        """The spec's JSON error envelope."""
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}, separators=(",", ":")).encode()


# lamina.errors class -> OCI code; the most specific class wins (checked in MRO order).
_LAMINA_CODES: Final[dict[type[errors.LaminaError], str]] = {
    errors.InvalidDigest: "DIGEST_INVALID",
    errors.InvalidReference: "NAME_INVALID",
    errors.InvalidManifest: "MANIFEST_INVALID",
    errors.InvalidArgument: "UNSUPPORTED",
    errors.IntegrityError: "DIGEST_INVALID",
    errors.NotFound: "NAME_UNKNOWN",
    errors.Unauthorized: "UNAUTHORIZED",
    errors.Denied: "DENIED",
    errors.TooManyRequests: "TOOMANYREQUESTS",
    errors.Unsupported: "UNSUPPORTED",
    errors.StorageError: "UNAVAILABLE",
}


# Where the code's own status would mislead: bad input is the client's fault (400), not a
# method the registry lacks (405).
_LAMINA_STATUS: Final[dict[type[errors.LaminaError], int]] = {errors.InvalidArgument: 400}


def from_lamina_error(exc: errors.LaminaError) -> RegistryHTTPError:
    """Translate an error of lamina's hierarchy into the wire error a client sees."""
    for cls in type(exc).__mro__:
        code = _LAMINA_CODES.get(cls)
        if code is not None:
            status = _LAMINA_STATUS.get(cls)
            if isinstance(exc, errors.RegistryError) and exc.status:
                status = exc.status
            return RegistryHTTPError(code, exc.message, status=status)
    return RegistryHTTPError("UNKNOWN", exc.message)


__all__ = ["ERROR_TABLE", "RegistryHTTPError", "from_lamina_error"]
