"""The one table from errors to the OCI error envelope."""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lamina import errors
from lamina.registry import errors as domain
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


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (domain.BlobUnknown("b"), "BLOB_UNKNOWN", 404),
        (domain.BlobUploadUnknown("u"), "BLOB_UPLOAD_UNKNOWN", 404),
        (domain.BlobUploadInvalid("u"), "BLOB_UPLOAD_INVALID", 400),
        (domain.DigestInvalid("d"), "DIGEST_INVALID", 400),
        (domain.ManifestBlobUnknown("m"), "MANIFEST_BLOB_UNKNOWN", 400),
        (domain.ManifestInvalid("m"), "MANIFEST_INVALID", 400),
        (domain.ManifestTooLarge("m"), "SIZE_INVALID", 413),
        (domain.ManifestUnknown("m"), "MANIFEST_UNKNOWN", 404),
        (domain.NameInvalid("n"), "NAME_INVALID", 400),
        (domain.NameUnknown("n"), "NAME_UNKNOWN", 404),
        (domain.SizeInvalid("s"), "SIZE_INVALID", 400),
        (domain.RangeInvalid("r"), "RANGE_INVALID", 416),
        (domain.Unsupported("u"), "UNSUPPORTED", 405),
        (domain.ReadOnly("r"), "UNSUPPORTED", 405),
        (domain.ParameterInvalid("p"), "UNSUPPORTED", 400),
        (domain.Unavailable("u"), "UNAVAILABLE", 503),
    ],
)
def test_domain_errors_map_in_one_place(exc: domain.ServiceError, code: str, status: int) -> None:
    wire = domain.to_wire(exc)
    assert (wire.code, wire.status, wire.message) == (code, status, exc.message)


def test_every_domain_error_has_a_code() -> None:
    classes = [
        value
        for value in vars(domain).values()
        if isinstance(value, type)
        and issubclass(value, domain.ServiceError)
        and value is not domain.ServiceError
    ]
    assert len(classes) > 10
    for cls in classes:
        assert domain.to_wire(cls("x")).code != "UNKNOWN", cls


def test_detail_and_headers_pass_through() -> None:
    wire = domain.to_wire(domain.RangeInvalid("r", detail={"at": 3}, headers={"Range": "0-2"}))
    assert wire.headers == {"Range": "0-2"} and json.loads(wire.body())["errors"][0]["detail"]


_NO_HTTP = ["service.py", "upload_sessions.py", "gc.py", *(f"handlers/{n}" for n in (
    "base.py", "blobs.py", "catalog.py", "common.py", "manifests.py", "referrers.py", "tags.py",
    "uploads.py",
))]  # fmt: skip


@pytest.mark.parametrize("module", _NO_HTTP)
def test_the_service_and_handlers_raise_only_domain_errors(module: str) -> None:
    """No wire error is made outside ``errors`` (and the authorizers, whose challenges are
    HTTP's own), and no status is written down: the mapping stays in one place."""
    source = (Path(domain.__file__).parent / module).read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            assert name != "RegistryHTTPError", f"{module}:{node.lineno} builds a wire error"
        if isinstance(node, ast.keyword):
            assert node.arg != "status", f"{module}:{node.lineno} sets a status"


def test_the_service_raises_domain_errors(tmp_path: Path) -> None:
    import anyio

    from lamina.registry.config import RegistryConfig
    from lamina.registry.service import Registry, parse_digest

    registry = Registry(RegistryConfig(root=tmp_path, log_requests=False))
    missing = "sha256:" + "0" * 64

    async def main() -> None:
        with pytest.raises(domain.ManifestUnknown):
            await registry.get_manifest("r", "latest")
        with pytest.raises(domain.BlobUnknown):
            await registry.find_blob("r", parse_digest(missing))
        with pytest.raises(domain.NameUnknown):
            await registry.list_tags("nobody", None, None)
        with pytest.raises(domain.ManifestInvalid):
            await registry.put_manifest("r", "v1", b"not json", "application/json")
        with pytest.raises(domain.Unavailable):
            await registry.open_blob("objects/gone")
        upload = await registry.start_upload("r")

        async def body() -> AsyncIterator[bytes]:
            yield b"some bytes"

        upload = await registry.append_upload(upload, body(), None)
        with pytest.raises(domain.DigestInvalid):
            await registry.finish_upload(upload, parse_digest(missing))

    try:
        anyio.run(main)
        with pytest.raises(domain.DigestInvalid):
            parse_digest("sha256:not-hex")
        with pytest.raises(domain.NameInvalid):
            from lamina.registry.service import validate_name

            validate_name("UPPER")
    finally:
        registry.close()


HANDLERS = sorted((Path(domain.__file__).parent / "handlers").glob("*.py"))
# What a handler may import from lamina: the service, the errors, its fellow handlers, the
# authorization layer, and pure values. Not the metadata store, the storage drivers, the
# upload sessions, or anything that reaches them (GC, migrations, backends, trust).
_HANDLER_IMPORTS = (
    "lamina.registry.service",
    "lamina.registry.errors",
    "lamina.registry.handlers",
    "lamina.registry.authz",
    "lamina.errors",
    "lamina.model",
)


def _runtime_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every import but those under ``if TYPE_CHECKING:``."""
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("path", HANDLERS, ids=[p.name for p in HANDLERS])
def test_handlers_call_only_the_service(path: Path) -> None:
    """Handlers reach metadata and storage only through the service: they import neither (nor
    what wraps them), and never follow a ``.metadata``, ``.storage`` or ``.uploads``
    attribute."""
    tree = ast.parse(path.read_text())
    for line, module in _runtime_imports(tree):
        if module.startswith("lamina"):
            assert module.startswith(_HANDLER_IMPORTS), f"{path.name}:{line} imports {module}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("metadata", "storage", "uploads"), (
                f"{path.name}:{node.lineno} reaches .{node.attr}"
            )
