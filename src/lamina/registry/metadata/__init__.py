"""Registry metadata: the interface (``base``), its SQL implementation (``sql``) and the two
databases it runs on (``sqlite_db``, ``postgres_db``), with numbered migrations (``schema``)."""

from lamina.registry.metadata.base import (
    BlobRecord,
    ManifestFacts,
    ManifestReferenceError,
    ManifestSizeError,
    MetadataStore,
    NewManifest,
    Referrer,
    StoredManifest,
    Upload,
    UploadClaimLost,
)
from lamina.registry.metadata.sql import PostgresMetadata, SQLiteMetadata, SQLMetadata

__all__ = [
    "BlobRecord",
    "ManifestFacts",
    "ManifestReferenceError",
    "ManifestSizeError",
    "MetadataStore",
    "NewManifest",
    "PostgresMetadata",
    "Referrer",
    "SQLMetadata",
    "SQLiteMetadata",
    "StoredManifest",
    "Upload",
    "UploadClaimLost",
]
