"""One signature as found in a registry or a lookaside store, in any of the formats."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from lamina.model.digest import Digest

SIG = "sig"  # cosign's sha256-<hex>.sig tag, simple-signing payloads
BUNDLE = "bundle"  # a Sigstore bundle v0.3 (DSSE, in-toto statement) as an OCI referrer
GPG = "gpg"  # an OpenPGP-signed simple-signing payload in a lookaside store


@dataclass(frozen=True)
class Signature:
    """``message`` is what the signature bytes sign: the payload itself (sig), the DSSE
    pre-authentication encoding (bundle), or the whole OpenPGP message (gpg)."""

    format: str
    subject: Digest  # the manifest digest under which it was found
    message: bytes
    signature: bytes
    payload: bytes  # the simple-signing payload, or the in-toto statement
    where: str  # how to find it again: a tag, a referrer digest, a lookaside URL
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """How the store keeps it (and how inspect shows its raw parts)."""
        return {
            "format": self.format,
            "subject": str(self.subject),
            "message": base64.b64encode(self.message).decode(),
            "signature": base64.b64encode(self.signature).decode(),
            "payload": base64.b64encode(self.payload).decode(),
            "where": self.where,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Signature:
        return cls(doc["format"], Digest.parse(doc["subject"]),
                   base64.b64decode(doc["message"]), base64.b64decode(doc["signature"]),
                   base64.b64decode(doc["payload"]), doc["where"], dict(doc.get("extra") or {}))
