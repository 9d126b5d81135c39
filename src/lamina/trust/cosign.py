"""cosign's legacy signature format: the tag ``sha256-<hex>.sig`` of the signed manifest's
repository names an OCI image manifest, one layer per signature. Each layer's blob is a
simple-signing payload (``application/vnd.dev.cosign.simplesigning.v1+json``), and its
annotation ``dev.cosignproject.cosign/signature`` holds the base64 signature of those bytes.

cosign's OCI 1.1 mode (``--registry-referrers-mode=oci-1-1``) stores the same manifest as a
referrer of the signed one (artifactType ``application/vnd.dev.cosign.artifact.sig.v1+json``)
rather than under the tag; ``read_referrers`` reads those.
"""

from __future__ import annotations

import base64
import binascii
import json

from lamina.errors import InvalidManifest, NotFound
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest
from lamina.remote.registry import Repository
from lamina.trust import oci
from lamina.trust.signature import SIG, Signature

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
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
    return _layers(repo, manifest, subject, f"{repo.name}:{tag}", limit)


def read_referrers(repo: Repository, subject: Digest, limit: int) -> Listing:
    """The first ``limit`` signatures in ``subject``'s cosign signature referrers (OCI 1.1
    mode), over all of them."""
    listed = oci.referrers(repo, subject, SIG_ARTIFACT)
    found: list[Signature] = []
    skipped = 0
    for index, desc in enumerate(listed):
        if len(found) >= limit:
            skipped += len(listed) - index  # not even opened
            break
        where = f"{repo.name}@{desc.digest}"
        try:
            fetched = repo.manifest(str(desc.digest), what=f"signature referrer {desc.digest.short}")
        except NotFound:
            continue  # listed but gone: deleted since
        batch = _layers(repo, oci.image_manifest(fetched, where), subject, where,
                        limit - len(found))
        found += batch.signatures
        skipped += batch.skipped
    return Listing(found, skipped)


def _layers(repo: Repository, manifest: Manifest, subject: Digest, where: str, limit: int
            ) -> Listing:
    """The signatures a cosign signature manifest's layers carry, the first ``limit``."""
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
        found.append(Signature(SIG, subject, payload, signature, payload, where,
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
    """Delete ``subject``'s ``.sig`` manifest and its cosign signature referrers; how many
    signatures they held."""
    count = 0
    tag = sig_tag(subject)
    fetched = oci.optional_manifest(repo, tag, f"signatures {repo.path}:{tag}")
    if fetched is not None:
        count += len(fetched.parsed.layers) if isinstance(fetched.parsed, Manifest) else 1
        oci.delete_manifest(repo, fetched.digest)
    listed = oci.referrers(repo, subject, SIG_ARTIFACT)
    for desc in listed:
        try:
            referrer = repo.manifest(str(desc.digest), what=f"signature referrer {desc.digest.short}")
        except NotFound:
            continue
        if oci.delete_manifest(repo, desc.digest):
            count += len(referrer.parsed.layers) if isinstance(referrer.parsed, Manifest) else 1
    oci.remove_from_referrers_tag(repo, subject, {d.digest for d in listed})
    return count
