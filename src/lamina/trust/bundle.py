"""Sigstore bundles (v0.3) as OCI referrers, the format cosign 3 writes.

The bundle's DSSE envelope wraps an in-toto statement whose subject is the signed manifest
(name: the repository, digest: the manifest's sha256). The DSSE signature is over the
pre-authentication encoding (PAE) of payload type and payload. It is pushed as a manifest with
artifactType ``application/vnd.dev.sigstore.bundle.v0.3+json``, an empty config, the bundle as
its one layer, and the signed manifest as its subject. Key-based only: no transparency-log
entry and no certificate, so ``verificationMaterial`` carries a public-key hint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from lamina.errors import InvalidDigest, NotFound, SignatureError
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Manifest
from lamina.remote.registry import Repository
from lamina.trust import oci
from lamina.trust.keys import Signer
from lamina.trust.signature import BUNDLE, Signature
from lamina.trust.simple import Claim

BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
ACCEPTED_BUNDLE_TYPES = (BUNDLE_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES = (STATEMENT_V1, "https://in-toto.io/Statement/v0.1")
PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(identity: str, digest: Digest) -> bytes:
    doc = {
        "_type": STATEMENT_V1,
        "subject": [{"name": identity, "digest": {digest.algorithm: digest.hex}}],
        "predicateType": PREDICATE,
        "predicate": {},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def make(signer: Signer, identity: str, digest: Digest) -> bytes:
    """A bundle whose DSSE envelope signs a statement about ``identity``@``digest``."""
    payload = statement(identity, digest)
    sig = signer.sign(pae(IN_TOTO, payload))
    hint = base64.b64encode(hashlib.sha256(signer.verifier.spki).digest()).decode()
    doc = {
        "mediaType": BUNDLE_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def attach(repo: Repository, subject: Descriptor, bundle: bytes) -> Digest:
    """Push ``bundle`` as a referrer of ``subject``; update the referrers tag when the
    registry does not take subjects itself."""
    config = oci.ensure_blob(repo, mt.OCI_EMPTY, oci.EMPTY_CONFIG)
    layer = oci.ensure_blob(repo, BUNDLE_TYPE, bundle)
    annotations = {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": PREDICATE,
        "org.opencontainers.image.created":
            datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    manifest = Manifest.build(config, [layer], annotations=annotations,
                              subject=Descriptor(subject.media_type, subject.digest,
                                                 subject.size),
                              artifact_type=BUNDLE_TYPE)
    digest, took_subject = oci.put_manifest(repo, str(manifest.digest), manifest.raw,
                                            mt.OCI_MANIFEST)
    if not took_subject:
        oci.add_to_referrers_tag(repo, subject.digest, Descriptor(
            mt.OCI_MANIFEST, digest, len(manifest.raw), annotations=annotations,
            artifact_type=BUNDLE_TYPE))
    return digest


class Listing:
    def __init__(self, signatures: list[Signature], skipped: int, problems: list[str]) -> None:
        self.signatures = signatures
        self.skipped = skipped
        self.problems = problems


def read(repo: Repository, subject: Digest, limit: int) -> Listing:
    """The bundles among ``subject``'s referrers, the first ``limit`` of them."""
    listed = oci.referrers(repo, subject, BUNDLE_TYPE)
    found: list[Signature] = []
    problems: list[str] = []
    for desc in listed[:limit]:
        where = f"{repo.name}@{desc.digest}"
        try:
            fetched = repo.manifest(str(desc.digest), what=f"bundle referrer {desc.digest.short}")
        except NotFound:
            continue  # listed but gone: deleted since
        manifest = oci.image_manifest(fetched, where)
        layers = [d for d in manifest.layers if d.media_type in ACCEPTED_BUNDLE_TYPES]
        if not layers:
            problems.append(f"referrer {desc.digest.short} holds no bundle")
            continue
        raw = oci.read_small_blob(repo, layers[0], f"bundle {layers[0].digest.short}")
        try:
            found.append(parse(raw, subject, where))
        except SignatureError as err:
            problems.append(f"referrer {desc.digest.short}: {err}")
    return Listing(found, max(0, len(listed) - limit), problems)


def parse(raw: bytes, subject: Digest, where: str) -> Signature:
    """A bundle's DSSE envelope as a Signature (not yet verified)."""
    try:
        doc = json.loads(raw)
        if doc.get("mediaType") not in ACCEPTED_BUNDLE_TYPES:
            raise SignatureError(f"not a v0.3 Sigstore bundle ({doc.get('mediaType')!r})")
        envelope = doc.get("dsseEnvelope")
        if not isinstance(envelope, dict):
            raise SignatureError("the bundle has no DSSE envelope (a message signature is "
                                 "not an image signature)")
        payload_type = envelope["payloadType"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        sigs = envelope["signatures"]
        if not isinstance(sigs, list) or len(sigs) != 1:
            raise SignatureError("the DSSE envelope must carry exactly one signature")
        signature = base64.b64decode(sigs[0]["sig"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error,
            RecursionError) as err:
        if isinstance(err, SignatureError):
            raise
        raise SignatureError(f"malformed bundle ({type(err).__name__}: {err})") from None
    if payload_type != IN_TOTO:
        raise SignatureError(f"DSSE payload type {payload_type!r}, not {IN_TOTO}")
    return Signature(BUNDLE, subject, pae(payload_type, payload), signature, payload, where,
                     {"bundle": base64.b64encode(raw).decode()})


def claims(payload: bytes) -> list[Claim]:
    """The (identity, digest) pairs a verified statement's subjects claim."""
    try:
        doc: Any = json.loads(payload)
    except (ValueError, RecursionError):
        raise SignatureError("in-toto statement is not JSON") from None
    if not isinstance(doc, dict) or doc.get("_type") not in STATEMENT_TYPES:
        raise SignatureError("not an in-toto statement")
    if doc.get("predicateType") != PREDICATE:
        # An attestation (provenance, SBOM...) about the image is not a signature of it.
        raise SignatureError(f"an attestation of type {doc.get('predicateType')!r}, not a "
                             f"signature ({PREDICATE})")
    subjects = doc.get("subject")
    if not isinstance(subjects, list):
        raise SignatureError("in-toto statement has no subject list")
    out: list[Claim] = []
    for item in subjects:
        if not isinstance(item, dict) or not isinstance(item.get("digest"), dict):
            raise SignatureError("in-toto statement: malformed subject")
        name = item.get("name")
        hex_ = item["digest"].get("sha256")
        if not isinstance(name, str) or not isinstance(hex_, str):
            continue
        try:
            out.append(Claim(name, Digest.from_hex(hex_), "in-toto"))
        except (ValueError, InvalidDigest):
            continue
    return out


def remove(repo: Repository, subject: Digest) -> int:
    """Delete every bundle referrer of ``subject`` (and its entries in the referrers tag)."""
    listed = oci.referrers(repo, subject, BUNDLE_TYPE)
    gone = {d.digest for d in listed if oci.delete_manifest(repo, d.digest)}
    oci.remove_from_referrers_tag(repo, subject, {d.digest for d in listed})
    return len(gone)
