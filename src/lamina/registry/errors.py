"""The registry's errors: the service's own (domain errors), the wire's, and the one place that
maps the first to the second.

The service and the handlers raise domain errors (``BlobUnknown``, ``RangeInvalid``,
``Unavailable``...), which say what went wrong in the registry's terms and know nothing of
HTTP. ``to_wire`` turns them, and errors of ``lamina.errors`` (a backend's ``StorageError``,
say), into ``RegistryHTTPError``: the spec's code, its HTTP status from ``ERROR_TABLE``, and the
JSON envelope ``{"errors": [{"code", "message", "detail"}]}`` that the app renders. Only the
authorization layer raises ``RegistryHTTPError`` itself, since its challenges are HTTP's own.
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


class ServiceError(Exception):
    """A request the registry refuses or cannot serve, in the registry's own terms.

    ``detail`` is structured context for the client (the digests a manifest lacks); ``headers``
    what it needs to recover (where an upload stands), both passed through as they are.
    """

    def __init__(
        self, message: str, *, detail: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})


class BlobUnknown(ServiceError):
    """The repository has no such blob."""


class BlobUploadUnknown(ServiceError):
    """No such upload session (never started, ended, or taken over)."""


class BlobUploadInvalid(ServiceError):
    """The upload cannot go on as asked."""


class DigestInvalid(ServiceError):
    """A digest is malformed, or content does not have the digest it was given."""


class ManifestBlobUnknown(ServiceError):
    """A manifest names blobs or manifests the repository does not have."""


class ManifestInvalid(ServiceError):
    """A manifest does not parse, or does not describe what it references."""


class ManifestTooLarge(ServiceError):
    """A manifest is over the registry's size limit."""


class ManifestUnknown(ServiceError):
    """No manifest by that tag or digest (or none the client accepts)."""


class NameInvalid(ServiceError):
    """A repository name the spec does not allow."""


class NameUnknown(ServiceError):
    """No repository of that name, or no such endpoint."""


class SizeInvalid(ServiceError):
    """The bytes received are not as many as the client said."""


class RangeInvalid(ServiceError):
    """A chunk or a byte range that does not fit: out of order, or outside the blob."""


class Unsupported(ServiceError):
    """An operation the registry does not offer (a method no route has)."""


class ReadOnly(Unsupported):
    """A write to a registry that serves reads only."""


class ParameterInvalid(ServiceError):
    """A query parameter the registry cannot take (a page size that is no number)."""


class Unavailable(ServiceError):
    """A backend (database, object store) failed or disagrees with itself; a retry may work."""


class SignatureRequired(ServiceError):
    """The [trust] policy serves this repository's manifests only when signed by a trusted
    key, and this one is not."""


# Domain error -> (OCI code, status if not the code's own). The one mapping of the service's
# errors to the wire: nothing else in the registry knows an HTTP status.
_SERVICE_CODES: Final[dict[type[ServiceError], tuple[str, int | None]]] = {
    BlobUnknown: ("BLOB_UNKNOWN", None),
    BlobUploadUnknown: ("BLOB_UPLOAD_UNKNOWN", None),
    BlobUploadInvalid: ("BLOB_UPLOAD_INVALID", None),
    DigestInvalid: ("DIGEST_INVALID", None),
    ManifestBlobUnknown: ("MANIFEST_BLOB_UNKNOWN", None),
    ManifestInvalid: ("MANIFEST_INVALID", None),
    # The spec: a manifest over the limit is SIZE_INVALID with 413.
    ManifestTooLarge: ("SIZE_INVALID", 413),
    ManifestUnknown: ("MANIFEST_UNKNOWN", None),
    NameInvalid: ("NAME_INVALID", None),
    NameUnknown: ("NAME_UNKNOWN", None),
    SizeInvalid: ("SIZE_INVALID", None),
    RangeInvalid: ("RANGE_INVALID", None),
    # distribution answers writes in read-only mode with 405 UNSUPPORTED, too.
    Unsupported: ("UNSUPPORTED", None),
    # Bad input is the client's fault (400), not a method the registry lacks (405).
    ParameterInvalid: ("UNSUPPORTED", 400),
    Unavailable: ("UNAVAILABLE", None),
    SignatureRequired: ("DENIED", None),
}


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


def to_wire(exc: Exception) -> RegistryHTTPError:
    """The answer a client gets for ``exc``: a domain error, lamina's, or a wire error."""
    if isinstance(exc, RegistryHTTPError):
        return exc
    if isinstance(exc, ServiceError):
        for cls in type(exc).__mro__:
            if cls in _SERVICE_CODES:
                code, status = _SERVICE_CODES[cls]
                return RegistryHTTPError(
                    code, exc.message, detail=exc.detail, status=status, headers=exc.headers
                )
    if isinstance(exc, errors.LaminaError):
        return from_lamina_error(exc)
    return RegistryHTTPError("UNKNOWN", "internal server error")


__all__ = [
    "ERROR_TABLE",
    "BlobUnknown",
    "BlobUploadInvalid",
    "BlobUploadUnknown",
    "DigestInvalid",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestTooLarge",
    "ManifestUnknown",
    "NameInvalid",
    "NameUnknown",
    "ParameterInvalid",
    "RangeInvalid",
    "ReadOnly",
    "RegistryHTTPError",
    "ServiceError",
    "SizeInvalid",
    "Unavailable",
    "Unsupported",
    "from_lamina_error",
    "to_wire",
]
