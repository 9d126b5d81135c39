"""Registry settings: one dataclass, read from a TOML file, then environment variables, then
flags (each overriding the one before).

The server keeps no state that matters in memory, so these settings are everything a worker
(or a replica on another machine) needs to serve the same registry as its siblings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lamina.trust.serving import TrustConfig


@dataclass
class AuthConfig:
    """How clients authenticate. ``kind`` is "none", "htpasswd" or "token"."""

    kind: str = "none"
    # Basic: the realm shown to clients. Token: the URL of /token in the Bearer challenge if it
    # starts with http:// or https:// (behind a proxy); otherwise built from each request's URL.
    realm: str = "lamina-registry"
    htpasswd: Path | None = None
    # Token auth: the registry is its own token server at /token.
    token_issuer: str = "lamina-registry"
    token_service: str = "lamina-registry"
    token_key: Path | None = None  # PEM private key signing the JWTs; generated under root if None
    # The same key as PEM text (from the environment, for replicas with no shared disk); wins
    # over token_key. Every replica must sign with the same key.
    token_key_pem: str = ""
    token_ttl: int = 300
    anonymous_pull: bool = False
    # Access list: [{"account": "alice" | "*", "name": "team/*", "actions": ["pull", "push"]}]
    access: list[dict[str, object]] = field(default_factory=list)


@dataclass
class MetadataConfig:
    """Where the metadata lives: ``kind`` "sqlite" (a file under root) or "postgres"."""

    kind: str = "sqlite"
    dsn: str = ""  # postgres: a libpq connection string or URI
    max_connections: int = 16  # per worker process


@dataclass
class StorageConfig:
    """Where blob bytes live: ``driver`` "filesystem" (under root) or "s3"."""

    driver: str = "filesystem"
    endpoint: str = ""  # s3: the URL of an S3-compatible store; empty for AWS
    region: str = "us-east-1"
    bucket: str = ""
    prefix: str = ""
    path_style: bool = True
    # Empty: boto3's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the credentials file).
    access_key: str = ""
    secret_key: str = ""
    # Answer blob GETs with a redirect to a presigned URL instead of streaming (s3 only).
    redirect: bool = False
    redirect_expiry: int = 1200


@dataclass
class RegistryConfig:
    root: Path = Path("registry-data")
    addr: str = "127.0.0.1:5000"
    workers: int = 1
    read_only: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_manifest_size: int = 4 * 1024 * 1024
    # Online GC never touches a blob or upload younger than this.
    gc_grace_seconds: int = 3600
    log_requests: bool = True
    auth: AuthConfig = field(default_factory=AuthConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    # [trust]: repositories whose manifests are served only when signed (lamina.trust.serving).
    trust: TrustConfig = field(default_factory=TrustConfig)


SECTIONS = ("auth", "metadata", "storage")


ENV_PREFIX = "LAMINA_REGISTRY_"


def env_settings() -> list[tuple[str, str]]:
    """Every setting's environment variable and its TOML name: ``LAMINA_REGISTRY_<NAME>`` at
    the top level, ``LAMINA_REGISTRY_<SECTION>_<NAME>`` in a section."""
    import dataclasses

    out = []
    for f in dataclasses.fields(RegistryConfig):
        if f.name in (*SECTIONS, "trust"):
            for sub in dataclasses.fields(getattr(RegistryConfig(), f.name)):
                out.append((f"{ENV_PREFIX}{f.name}_{sub.name}".upper(), f"{f.name}.{sub.name}"))
        else:
            out.append((f"{ENV_PREFIX}{f.name}".upper(), f.name))
    return out
