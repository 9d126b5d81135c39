"""lamina's pure model: digests, references, media types, descriptors, platforms, manifests,
indexes, image configs and ChainIDs. No I/O; imports only the stdlib and ``lamina.errors``.

The names below are loaded on first use (PEP 562): ``from lamina.model.reference import
Reference`` must not cost the parsing of every other module here, since every command's
start-up goes through the model.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.model import mediatype
    from lamina.model.chain import chain_id, chain_ids
    from lamina.model.config import History, ImageConfig
    from lamina.model.descriptor import Descriptor
    from lamina.model.digest import Digest, Hasher, hasher_for
    from lamina.model.manifest import Index, Manifest, parse_manifest
    from lamina.model.platform import Platform
    from lamina.model.reference import (
        DEFAULT_DOMAIN,
        DEFAULT_TAG,
        Reference,
        validate_path,
        validate_tag,
    )

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "Descriptor",
    "Digest",
    "Hasher",
    "History",
    "ImageConfig",
    "Index",
    "Manifest",
    "Platform",
    "Reference",
    "chain_id",
    "chain_ids",
    "hasher_for",
    "mediatype",
    "parse_manifest",
    "validate_path",
    "validate_tag",
]

# public name -> the module that defines it
_HOME = {
    "DEFAULT_DOMAIN": "reference", "DEFAULT_TAG": "reference", "Reference": "reference",
    "validate_path": "reference", "validate_tag": "reference",
    "Descriptor": "descriptor", "Digest": "digest", "Hasher": "digest", "hasher_for": "digest",
    "History": "config", "ImageConfig": "config", "Index": "manifest", "Manifest": "manifest",
    "parse_manifest": "manifest", "Platform": "platform", "chain_id": "chain",
    "chain_ids": "chain",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name == "mediatype":
        return import_module("lamina.model.mediatype")
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'lamina.model' has no attribute {name!r}")
    value = getattr(import_module(f"lamina.model.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
