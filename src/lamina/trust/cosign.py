"""cosign's legacy signature format: the tag ``sha256-<hex>.sig`` of the signed manifest's
repository names an OCI image manifest, one layer per signature. Each layer's blob is a
simple-signing payload (``application/vnd.dev.cosign.simplesigning.v1+json``), and its
annotation ``dev.cosignproject.cosign/signature`` holds the base64 signature of those bytes.
"""

from __future__ import annotations

import base64
import binascii
import json

from lamina.errors import InvalidManifest
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest
from lamina.remote.registry import Repository
from lamina.trust import oci
from lamina.trust.signature import SIG, Signature

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
ZERO_TIME = "0001-01-01T00:00:00Z"


def sig_tag(digest: Digest) -> str:
    return f"{digest.algorithm}-{digest.hex}.sig"


class Listing:
    """The signatures read for one subject, and how many more there were than were read."""

    def __init__(self, signatures: list[Signature], skipped: int) -> None:
        self.signatures = signatures
        self.skipped = skipped


def read(repo: Repository, subject: Digest, limit: int) -> Listing:
    """The first ``limit`` signatures of ``subject``'s ``.sig`` tag (none if it has none)."""
    tag = sig_tag(subject)
    fetched = oci.optional_manifest(repo, tag, f"signatures {repo.path}:{tag}")
    if fetched is None:
        return Listing([], 0)
    manifest = oci.image_manifest(fetched, f"{repo.name}:{tag}")
    layers = [d for d in manifest.layers if d.media_type == SIMPLESIGNING]
    found: list[Signature] = []
    for desc in layers[:limit]:
        encoded = (desc.annotations or {}).get(SIGNATURE_ANNOTATION)
        if encoded is None:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue  # not a signature: it cannot satisfy anything
        payload = oci.read_small_blob(repo, desc, f"signature payload {desc.digest.short}")
        found.append(Signature(SIG, subject, payload, signature, payload, f"{repo.name}:{tag}",
                               {"layer": str(desc.digest)}))
    return Listing(found, max(0, len(layers) - limit))


def attach(repo: Repository, subject: Digest, payload: bytes, signature: bytes) -> Digest:
    """Add one signature to ``subject``'s ``.sig`` manifest (made if missing); an identical
    payload and signature already there is not added twice. The new manifest's digest."""
    tag = sig_tag(subject)
    fetched = oci.optional_manifest(repo, tag, f"signatures {repo.path}:{tag}")
    layers: list[Descriptor] = []
    if fetched is not None:
        try:
            layers = list(oci.image_manifest(fetched, tag).layers)
        except InvalidManifest:
            layers = []  # not a signature manifest: replaced
    annotation = base64.b64encode(signature).decode()
    desc = oci.ensure_blob(repo, SIMPLESIGNING, payload, {SIGNATURE_ANNOTATION: annotation})
    if not any(d.digest == desc.digest and (d.annotations or {}).get(SIGNATURE_ANNOTATION)
               == annotation for d in layers):
        layers.append(desc)
    config = {
        "architecture": "", "created": ZERO_TIME,
        "history": [{"created": ZERO_TIME} for _ in layers], "os": "",
        "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in layers]},
        "config": {},
    }
    config_desc = oci.ensure_blob(repo, mt.OCI_CONFIG,
                                  json.dumps(config, separators=(",", ":")).encode())
    manifest = Manifest.build(config_desc, layers)
    return repo.put_manifest(tag, manifest.raw, mt.OCI_MANIFEST)


def remove(repo: Repository, subject: Digest) -> int:
    """Delete ``subject``'s ``.sig`` manifest; how many signatures it held."""
    tag = sig_tag(subject)
    fetched = oci.optional_manifest(repo, tag, f"signatures {repo.path}:{tag}")
    if fetched is None:
        return 0
    count = len(fetched.parsed.layers) if isinstance(fetched.parsed, Manifest) else 1
    oci.delete_manifest(repo, fetched.digest)
    return count
