"""The one table from errors to the OCI error envelope."""

from __future__ import annotations

import json

import pytest

from lamina import errors
from lamina.registry.errors import ERROR_TABLE, RegistryHTTPError, from_lamina_error

SPEC_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}


def test_every_spec_code_is_in_the_table() -> None:
    assert set(ERROR_TABLE) >= SPEC_CODES
    assert ERROR_TABLE["RANGE_INVALID"][0] == 416
    assert ERROR_TABLE["UNAUTHORIZED"][0] == 401 and ERROR_TABLE["DENIED"][0] == 403
    assert ERROR_TABLE["UNSUPPORTED"][0] == 405 and ERROR_TABLE["TOOMANYREQUESTS"][0] == 429


def test_envelope() -> None:
    err = RegistryHTTPError("BLOB_UNKNOWN", "blob unknown: x", detail={"digest": "x"})
    assert err.status == 404
    assert json.loads(err.body()) == {
        "errors": [
            {"code": "BLOB_UNKNOWN", "message": "blob unknown: x", "detail": {"digest": "x"}}
        ]
    }
    plain = RegistryHTTPError("DENIED")
    assert json.loads(plain.body()) == {
        "errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]
    }


def test_headers_and_status_override() -> None:
    err = RegistryHTTPError(
        "UNAUTHORIZED", headers={"WWW-Authenticate": 'Basic realm="r"'}, status=401
    )
    assert err.headers == {"WWW-Authenticate": 'Basic realm="r"'}
    assert RegistryHTTPError("SIZE_INVALID", status=413).status == 413


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        RegistryHTTPError("NOT_A_CODE")


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (errors.InvalidDigest("bad digest"), "DIGEST_INVALID", 400),
        (errors.InvalidReference("bad name"), "NAME_INVALID", 400),
        (errors.InvalidManifest("bad manifest"), "MANIFEST_INVALID", 400),
        (errors.InvalidArgument("bad input"), "UNSUPPORTED", 400),
        (errors.IntegrityError("mismatch"), "DIGEST_INVALID", 400),
        (errors.NotFound("nothing"), "NAME_UNKNOWN", 404),
        (errors.Unauthorized("who are you"), "UNAUTHORIZED", 401),
        (errors.Denied("no"), "DENIED", 403),
        (errors.TooManyRequests("slow down"), "TOOMANYREQUESTS", 429),
        (errors.Unsupported("nope"), "UNSUPPORTED", 405),
        (errors.StorageError("disk full"), "UNAVAILABLE", 503),
        (errors.BuildError("unrelated"), "UNKNOWN", 500),
    ],
)
def test_lamina_errors_map_in_one_place(exc: errors.LaminaError, code: str, status: int) -> None:
    wire = from_lamina_error(exc)
    assert (wire.code, wire.status, wire.message) == (code, status, exc.message)
