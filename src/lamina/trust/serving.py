"""The registry's optional ``[trust]`` policy: manifests of matching repositories are served
only when signed by a trusted key, as zot and Harbor can be told to do.

::

    [trust]
    repositories = ["prod/*"]          # fnmatch patterns of repository names
    keys = ["keys/release.pub"]        # SPKI PEM public keys (relative to the config file)

A manifest is served if a cosign signature (``.sig`` tag, or an OCI 1.1 referrer) or a
Sigstore bundle referrer in the same repository verifies with one of the keys, covers its digest, and names the repository (any
registry host: the registry may be reached under several names). Signatures themselves (the
digest tags cosign uses, bundle referrers) are always served: clients fetch them to verify.
A refusal is a 403 ``DENIED`` naming the reason. A manifest found signed is not checked again
for ``CACHE_SECONDS``; a refusal is not cached (a signature pushed next is seen at once).
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.errors import InvalidArgument, LaminaError
from lamina.model.digest import Digest
from lamina.model.reference import Reference

CACHE_SECONDS = 10.0
MAX_EXAMINED = 64
MAX_PAYLOAD = 1024 * 1024


@dataclass
class TrustConfig:
    repositories: list[str] = field(default_factory=list)
    keys: list[Path] = field(default_factory=list)

    @classmethod
    def from_mapping(cls, value: Any, base: Path | None) -> TrustConfig:
        if not isinstance(value, dict):
            raise InvalidArgument("config: [trust] must be a table")
        unknown = sorted(set(value) - {"repositories", "keys"})
        if unknown:
            raise InvalidArgument(f"config: unknown setting 'trust.{unknown[0]}'")
        repos, keys = value.get("repositories", []), value.get("keys", [])
        for name, items in (("repositories", repos), ("keys", keys)):
            if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
                raise InvalidArgument(f"config: trust.{name} must be a list of strings")
        paths = [Path(k).expanduser() for k in keys]
        paths = [base / p if base is not None and not p.is_absolute() else p for p in paths]
        if repos and not paths:
            raise InvalidArgument("config: trust.repositories needs trust.keys")
        config = cls(list(repos), paths)
        config.verifiers()  # a bad key file fails at start-up, not on the first pull
        return config

    def verifiers(self) -> list[Any]:
        from lamina.trust.keys import load_verifier

        return [load_verifier(p) for p in self.keys]

    def pattern_for(self, repository: str) -> str | None:
        return next((p for p in self.repositories if fnmatch.fnmatchcase(repository, p)), None)


class Gate:
    """The policy of one registry process, with its keys loaded and its verdicts cached."""

    def __init__(self, config: TrustConfig) -> None:
        self.config = config
        self.verifiers = config.verifiers()
        self._cache: dict[tuple[str, str], float] = {}  # signed manifests: when checked
        self._lock = threading.Lock()

    def refusal(self, registry: Any, repository: str, reference: str, digest: str,
                media_type: str, raw: bytes) -> str | None:
        """Why the manifest may not be served, or None if it may."""
        pattern = self.config.pattern_for(repository)
        if pattern is None or _is_signature(reference, media_type, raw):
            return None
        key = (repository, digest)
        now = time.monotonic()
        with self._lock:
            checked = self._cache.get(key)
        if checked is not None and now - checked < CACHE_SECONDS:
            return None
        if not self._signed(registry, repository, Digest.parse(digest)):
            return (f"manifest {digest} of {repository} is not signed by a key this registry "
                    f"trusts (trust policy {pattern!r})")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = now
        return None

    def _signed(self, registry: Any, repository: str, digest: Digest) -> bool:
        from lamina.trust import bundle, cosign, simple

        metadata = registry.metadata
        candidates: list[tuple[str, bytes, bytes, bytes]] = []  # (format, message, sig, payload)
        # cosign's signature manifests: under the .sig tag, and as referrers (OCI 1.1 mode).
        sig_manifests = [metadata.get_manifest(repository, cosign.sig_tag(digest))]
        sig_manifests += [metadata.get_manifest(repository, ref.digest) for ref in
                          metadata.referrers(repository, str(digest), cosign.SIG_ARTIFACT)
                          [:MAX_EXAMINED]]
        for sig in sig_manifests:
            if sig is None:
                continue
            layers = _json(sig.raw).get("layers") or []
            for layer in layers[:MAX_EXAMINED]:
                if not isinstance(layer, dict):
                    continue
                annotation = (layer.get("annotations") or {}).get(cosign.SIGNATURE_ANNOTATION)
                if layer.get("mediaType") != cosign.SIMPLESIGNING or not annotation:
                    continue
                payload = _blob(registry, repository, layer)
                if payload is not None:
                    import base64

                    try:
                        candidates.append(("sig", payload, base64.b64decode(annotation),
                                           payload))
                    except ValueError:
                        continue
        for ref in metadata.referrers(repository, str(digest), bundle.BUNDLE_TYPE)[:MAX_EXAMINED]:
            stored = metadata.get_manifest(repository, ref.digest)
            layers = _json(stored.raw).get("layers") or [] if stored is not None else []
            if not layers:
                continue
            raw = _blob(registry, repository, layers[0])
            if raw is None:
                continue
            try:
                parsed = bundle.parse(raw, digest, ref.digest)
            except LaminaError:
                continue
            candidates.append(("bundle", parsed.message, parsed.signature, parsed.payload))
        for fmt, message, signature, payload in candidates:
            if not any(v.verify(message, signature) for v in self.verifiers):
                continue
            try:
                claims = ([simple.parse(payload, simple.COSIGN_TYPE)] if fmt == "sig"
                          else bundle.claims(payload))
            except LaminaError:
                continue
            for claim in claims:
                try:
                    path = Reference.parse(claim.identity).path
                except LaminaError:
                    continue
                if claim.digest == digest and path == repository:
                    return True
        return False


def _is_signature(reference: str, media_type: str, raw: bytes) -> bool:
    from lamina.trust import bundle, cosign
    from lamina.trust.registry_gc import subject_of_tag

    if subject_of_tag(reference) is not None:
        return True
    doc = _json(raw)
    if doc.get("artifactType") == bundle.BUNDLE_TYPE:
        return True
    layers = doc.get("layers") or []
    return bool(layers) and all(isinstance(lay, dict) and lay.get("mediaType") in (
        cosign.SIMPLESIGNING, bundle.BUNDLE_TYPE) for lay in layers)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _blob(registry: Any, repository: str, desc: Any) -> bytes | None:
    if not isinstance(desc, dict) or not isinstance(desc.get("size"), int) \
            or desc["size"] > MAX_PAYLOAD:
        return None
    try:
        digest = Digest.parse(str(desc.get("digest")))
        link = registry.metadata.blob_link(repository, str(digest))
        if link is None:
            return None
        with registry.storage.reader(link[2]) as stream:
            data: bytes = stream.read(MAX_PAYLOAD + 1)
    except Exception:  # a missing or unreadable blob is simply no signature
        return None
    return data if Digest.of(data) == digest else None


_GATES: dict[int, Gate] = {}


def refusal(registry: Any, repository: str, reference: str, stored: Any) -> str | None:
    """Why ``[trust]`` forbids serving ``stored`` (the registry answers 403 DENIED), or None."""
    gate = _GATES.get(id(registry.config))
    if gate is None:
        gate = _GATES[id(registry.config)] = Gate(registry.config.trust)
    return gate.refusal(registry, repository, reference, stored.digest, stored.media_type,
                        stored.raw)
