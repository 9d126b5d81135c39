"""The "simple signing" payload: what a cosign ``.sig`` layer or a GPG signature signs.

::

    {"critical": {"identity": {"docker-reference": "host/repo[:tag]"},
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "type": "cosign container image signature"},
     "optional": {...} | null}

cosign writes type ``cosign container image signature``; GPG signatures (skopeo, podman) say
``atomic container signature``. Parsing is strict about the critical part, as
containers/image is: a verifier must not act on a claim it did not understand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lamina.errors import InvalidDigest, InvalidReference, SignatureError
from lamina.model.digest import Digest
from lamina.model.reference import Reference

COSIGN_TYPE = "cosign container image signature"
ATOMIC_TYPE = "atomic container signature"


@dataclass(frozen=True)
class Claim:
    """What a payload claims: the image identity and the manifest digest it covers."""

    identity: str
    digest: Digest
    type: str

    @property
    def reference(self) -> Reference:
        return Reference.parse(self.identity)


def creator() -> dict[str, Any]:
    """The ``optional`` part of a GPG signature: containers/image wants an object there."""
    import time
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("lamina")
    except PackageNotFoundError:
        release = "unknown"
    return {"creator": f"lamina {release}", "timestamp": int(time.time())}


def make(identity: str, digest: Digest, type_: str = COSIGN_TYPE,
         optional: dict[str, Any] | None = None) -> bytes:
    doc = {
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": str(digest)},
            "type": type_,
        },
        "optional": optional,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def parse(payload: bytes, type_: str) -> Claim:
    """The claim of a verified payload; SignatureError names what is wrong with it."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        raise SignatureError("signature payload is not JSON") from None
    if not isinstance(doc, dict) or set(doc) - {"critical", "optional"}:
        raise SignatureError("signature payload has unknown top-level fields")
    critical = doc.get("critical")
    if not isinstance(critical, dict) or set(critical) != {"identity", "image", "type"}:
        raise SignatureError("signature payload: 'critical' must have exactly identity, image "
                             "and type")
    if critical["type"] != type_:
        raise SignatureError(f"signature payload type {critical['type']!r}, expected {type_!r}")
    identity, image = critical["identity"], critical["image"]
    if not isinstance(identity, dict) or set(identity) != {"docker-reference"} or \
            not isinstance(identity["docker-reference"], str):
        raise SignatureError("signature payload: invalid critical.identity")
    if not isinstance(image, dict) or set(image) != {"docker-manifest-digest"} or \
            not isinstance(image["docker-manifest-digest"], str):
        raise SignatureError("signature payload: invalid critical.image")
    try:
        digest = Digest.parse(image["docker-manifest-digest"])
        Reference.parse(identity["docker-reference"])
    except (InvalidDigest, InvalidReference) as err:
        raise SignatureError(f"signature payload: {err}") from None
    return Claim(identity["docker-reference"], digest, type_)
