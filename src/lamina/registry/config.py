"""Registry settings: one dataclass, read from a TOML file and overridden by flags.

The server keeps no state that matters in memory, so these settings are everything a worker
needs to serve the same registry as its siblings.
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
    token_ttl: int = 300
    anonymous_pull: bool = False
    # Access list: [{"account": "alice" | "*", "name": "team/*", "actions": ["pull", "push"]}]
    access: list[dict[str, object]] = field(default_factory=list)


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
    # [trust]: repositories whose manifests are served only when signed (lamina.trust.serving).
    trust: TrustConfig = field(default_factory=TrustConfig)
