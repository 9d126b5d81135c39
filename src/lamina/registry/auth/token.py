"""Docker's token-auth scheme: the registry as its own token server, and the checks of a token.

A client that gets ``401`` with ``WWW-Authenticate: Bearer realm=".../token",service=...,
scope=...`` asks ``GET /token?service=...&scope=repository:team/app:pull,push`` (with Basic
credentials, or none for anonymous access), or POSTs the OAuth2 form (``grant_type=password``
or ``grant_type=refresh_token``). The answer is a JWT whose ``access`` claim lists what the
account was granted: the requested scopes cut down by the access list, never more. Every request
to the registry then carries ``Authorization: Bearer <jwt>``, and ``TokenAuthority.verify``
checks its signature, issuer, audience (the service), expiry, and ``Access.allows`` checks that
it names the actions the request needs.

The signing key is an EC P-256 (ES256) or RSA (RS256) private key in PEM. Its ``kid`` is the
libtrust key ID docker's tooling computes: the SHA-256 of the DER public key, cut to 240 bits,
base32, in twelve groups of four.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lamina.errors import InvalidArgument, StorageError, Unauthorized
from lamina.registry.auth.access import Scope

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
# Refresh tokens are JWTs too, told apart from access tokens by this claim: a refresh token is
# never accepted as an access token, nor the other way round.
_USE_CLAIM = "lamina_use"
_LEEWAY_SECONDS = 30


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(path: Path, pem: bytes | None = None) -> PrivateKey:
    """The key in the file at ``path``, or in ``pem`` (given by the environment; ``path``
    then only names it in messages)."""
    try:
        data = pem if pem is not None else path.read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except OSError as e:
        raise StorageError(f"cannot read the token signing key {path}: {e.strerror}") from e
    except ValueError as e:
        raise InvalidArgument(f"{path} is not a PEM private key: {e}") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise InvalidArgument(f"{path}: the token signing key must be EC P-256 or RSA")
    if isinstance(key, ec.EllipticCurvePrivateKey) and not isinstance(key.curve, ec.SECP256R1):
        raise InvalidArgument(f"{path}: an EC token signing key must be on curve P-256")
    return key


def load_or_create_key(path: Path) -> PrivateKey:
    """The key at ``path``; made (mode 0600) if there is none. Safe when several workers race:
    the file appears whole through ``link``, and the loser reads the winner's key."""
    if path.exists():
        return load_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key_to_pem(generate_key()))
            f.flush()
            os.fsync(f.fileno())
        # The loser of a race between workers reads the winner's key below.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return load_key(path)


def libtrust_key_id(key: PrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


@dataclass(frozen=True)
class Access:
    """What a verified token grants: (type, name) -> actions, and who it was issued to."""

    account: str | None
    grants: Mapping[tuple[str, str], frozenset[str]]
    expires_at: float = 0.0

    def allows(self, type_: str, name: str, actions: Iterable[str]) -> bool:
        granted = self.grants.get((type_, name), frozenset())
        return "*" in granted or set(actions) <= granted

    @classmethod
    def from_claim(cls, account: str | None, claim: object, expires_at: float = 0.0) -> Access:
        if claim is None:
            claim = []
        if not isinstance(claim, list):
            raise Unauthorized("token has a malformed access claim")
        grants: dict[tuple[str, str], frozenset[str]] = {}
        for entry in claim:
            if not isinstance(entry, dict):
                raise Unauthorized("token has a malformed access claim")
            type_, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
            if not isinstance(type_, str) or not isinstance(name, str):
                raise Unauthorized("token has a malformed access claim")
            if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                raise Unauthorized("token has a malformed access claim")
            key = (type_, name)
            grants[key] = grants.get(key, frozenset()) | frozenset(actions)
        return cls(account, grants, expires_at)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str


class TokenAuthority:
    """Issues and verifies the registry's JWTs. Holds no state but its key: every worker and
    every replica given the same key and settings accepts the tokens of the others."""

    def __init__(
        self,
        key: PrivateKey,
        *,
        issuer: str,
        service: str,
        ttl: int = 300,
        refresh_ttl: int = 30 * 86400,
    ) -> None:
        self.key = key
        self.public_key = key.public_key()
        self.algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
        self.kid = libtrust_key_id(key)
        self.issuer = issuer
        self.service = service
        self.ttl = ttl
        self.refresh_ttl = refresh_ttl

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": "JWT"}
        )

    def _base_claims(self, account: str | None, ttl: int) -> tuple[dict[str, Any], int]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
        }, now

    def issue(self, account: str | None, granted: Iterable[Scope]) -> IssuedToken:
        """An access token naming exactly ``granted`` (scopes with no action are left out)."""
        claims, now = self._base_claims(account, self.ttl)
        claims["access"] = [s.to_claim() for s in granted if s.actions]
        issued_at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return IssuedToken(self._sign(claims), self.ttl, issued_at)

    def issue_refresh(self, account: str) -> str:
        claims, _ = self._base_claims(account, self.refresh_ttl)
        claims[_USE_CLAIM] = "refresh"
        return self._sign(claims)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=[self.algorithm],
                audience=self.service,
                issuer=self.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "iat"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthorized("token has expired") from e
        except jwt.InvalidTokenError as e:
            # The message names the failed check (signature, audience, issuer), never the token.
            raise Unauthorized(f"invalid token: {e}") from e
        return claims

    def verify(self, token: str) -> Access:
        """Check an access token; raise Unauthorized naming what is wrong with it."""
        claims = self._decode(token)
        if _USE_CLAIM in claims:
            raise Unauthorized("invalid token: a refresh token is not an access token")
        sub = claims.get("sub")
        account = sub if isinstance(sub, str) and sub else None
        return Access.from_claim(account, claims.get("access"), float(claims["exp"]))

    def verify_refresh(self, token: str) -> str:
        """The account a refresh token was issued to."""
        claims = self._decode(token)
        sub = claims.get("sub")
        if claims.get(_USE_CLAIM) != "refresh" or not isinstance(sub, str) or not sub:
            raise Unauthorized("invalid refresh token")
        return sub
