"""JSON documents (manifests, indexes, configs): read strictly, written once.

Reading is strict because two parsers that disagree on one document are an attack: duplicate
keys (Go keeps the last, others the first), NaN and Infinity (not JSON), invalid UTF-8 and
pathological nesting are all refused rather than resolved one way.
"""

from __future__ import annotations

import json
from typing import Any, Final

from lamina.errors import InvalidManifest

# Registries refuse manifests over 4 MiB; configs get more room (long histories, many labels).
MAX_MANIFEST_SIZE: Final = 4 * 1024 * 1024
MAX_CONFIG_SIZE: Final = 64 * 1024 * 1024


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidManifest(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise InvalidManifest(f"{name} is not valid JSON")


def load_object(raw: bytes, what: str, *, max_size: int = MAX_MANIFEST_SIZE) -> dict[str, Any]:
    """Parse ``raw`` as one JSON object; InvalidManifest (naming ``what``) if it is not one."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidManifest(f"{what}: expected bytes, got {type(raw).__name__}")
    if len(raw) > max_size:
        raise InvalidManifest(f"{what}: {len(raw)} bytes is larger than the limit of {max_size}")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidManifest(f"{what}: not UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except InvalidManifest as err:
        raise InvalidManifest(f"{what}: {err}") from None
    except RecursionError:
        raise InvalidManifest(f"{what}: JSON nested too deeply") from None
    except ValueError as err:
        # JSONDecodeError, and the int-size limit of int() on huge numbers.
        raise InvalidManifest(f"{what}: invalid JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidManifest(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def dump(obj: Any) -> bytes:
    """Serialise for the one time a document is created: compact, key order as given, UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
