"""lamina's pure model: digests, references, media types, descriptors, platforms, manifests,
indexes, image configs and ChainIDs. No I/O; imports only the stdlib and ``lamina.errors``.
"""

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
