"""Registry metadata: the interface (``base``) and its implementations."""

from lamina.registry.metadata.base import (
    GCSnapshot,
    ManifestReferenceError,
    ManifestSizeError,
    MetadataStore,
    NewManifest,
    Referrer,
    StoredManifest,
    Upload,
)
from lamina.registry.metadata.sqlite import SQLiteMetadata

__all__ = [
    "GCSnapshot",
    "ManifestReferenceError",
    "ManifestSizeError",
    "MetadataStore",
    "NewManifest",
    "Referrer",
    "SQLiteMetadata",
    "StoredManifest",
    "Upload",
]
