"""Blob storage drivers: the contract (``base``) and one module per driver."""

from lamina.registry.storage.base import BlobWriter, FileInfo, StorageDriver, blob_key, upload_key
from lamina.registry.storage.filesystem import FilesystemDriver

__all__ = ["BlobWriter", "FileInfo", "FilesystemDriver", "StorageDriver", "blob_key", "upload_key"]
