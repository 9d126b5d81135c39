"""The backends a config names: its metadata store and its blob storage.

The embedded default is SQLite and a directory under ``root``; a replica of a cluster names a
PostgreSQL database and an S3 bucket that all replicas share. The client libraries of the
shared backends (psycopg, boto3) are imported only when configured.
"""

from __future__ import annotations

from pathlib import Path

from lamina.errors import InvalidArgument
from lamina.registry.config import RegistryConfig
from lamina.registry.metadata import SQLMetadata
from lamina.registry.storage import StorageDriver

METADATA_KINDS = ("sqlite", "postgres")
STORAGE_DRIVERS = ("filesystem", "s3")


def validate_backends(config: RegistryConfig) -> None:
    md, st = config.metadata, config.storage
    if md.kind not in METADATA_KINDS:
        raise InvalidArgument(
            f"unknown metadata kind {md.kind!r}: one of {', '.join(METADATA_KINDS)}"
        )
    if md.kind == "postgres" and not md.dsn:
        raise InvalidArgument("metadata kind postgres needs metadata.dsn")
    if md.max_connections < 1:
        raise InvalidArgument("metadata.max_connections must be at least 1")
    if st.driver not in STORAGE_DRIVERS:
        raise InvalidArgument(
            f"unknown storage driver {st.driver!r}: one of {', '.join(STORAGE_DRIVERS)}"
        )
    if st.driver == "s3" and not st.bucket:
        raise InvalidArgument("storage driver s3 needs storage.bucket")
    if (
        md.kind == "postgres"
        and config.auth.kind == "token"
        and config.auth.token_key is None
        and not config.auth.token_key_pem
    ):
        # A key made under each replica's root would make each replica's tokens its own.
        raise InvalidArgument(
            "token auth on shared metadata needs one signing key for every replica: "
            "set auth.token_key (a path) or auth.token_key_pem"
        )
    if st.redirect and st.driver != "s3":
        raise InvalidArgument("storage.redirect needs the s3 driver (a filesystem has no URLs)")


def open_metadata(config: RegistryConfig) -> SQLMetadata:
    from lamina.registry.metadata import PostgresMetadata, SQLiteMetadata

    if config.metadata.kind == "postgres":
        return PostgresMetadata(
            config.metadata.dsn, max_connections=config.metadata.max_connections
        )
    root = Path(config.root)
    root.mkdir(parents=True, exist_ok=True)
    return SQLiteMetadata(root / "registry.db")


def open_storage(config: RegistryConfig) -> StorageDriver:
    st = config.storage
    if st.driver == "s3":
        from lamina.registry.storage.s3 import S3Driver

        return S3Driver(
            bucket=st.bucket,
            endpoint=st.endpoint or None,
            region=st.region,
            prefix=st.prefix,
            path_style=st.path_style,
            access_key=st.access_key or None,
            secret_key=st.secret_key or None,
        )
    from lamina.registry.storage import FilesystemDriver

    return FilesystemDriver(Path(config.root) / "storage")


def describe(config: RegistryConfig) -> str:
    """Where the registry keeps its data, for the start-up line (never with credentials)."""
    if config.metadata.kind == "sqlite" and config.storage.driver == "filesystem":
        return str(config.root)
    from lamina.registry.metadata.postgres_db import where

    md = (
        f"postgresql at {where(config.metadata.dsn)}"
        if config.metadata.kind == "postgres"
        else f"{Path(config.root) / 'registry.db'}"
    )
    st = config.storage
    blobs = (
        f"s3 bucket {st.bucket} at {st.endpoint or 'AWS'}"
        if st.driver == "s3"
        else str(Path(config.root) / "storage")
    )
    return f"{md} and {blobs}"


def check_backends(config: RegistryConfig) -> None:
    """Open both backends once (applying migrations) and check they answer; one clear error
    naming the backend and its address if not."""
    metadata = open_metadata(config)
    try:
        open_storage(config).check()
    finally:
        metadata.close()


__all__ = ["check_backends", "describe", "open_metadata", "open_storage", "validate_backends"]
