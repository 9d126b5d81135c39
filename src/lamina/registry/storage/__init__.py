"""Blob storage drivers: the contract (``base``) and one module per driver (``s3`` is imported
only when configured: boto3 takes a while to load)."""

from lamina.registry.storage.base import (
    BlobWriter,
    FileInfo,
    StorageDriver,
    UploadWriter,
    blob_key,
    object_key,
    upload_key,
)
from lamina.registry.storage.filesystem import FilesystemDriver

__all__ = [
    "BlobWriter",
    "FileInfo",
    "FilesystemDriver",
    "StorageDriver",
    "UploadWriter",
    "blob_key",
    "object_key",
    "upload_key",
]
