"""A policy's verdict on an image in a registry, given before any of its bytes are stored.

Every requirement of the scope that applies must be met (containers/image's rule). A signature
requirement is met by one signature that verifies with one of its keys, covers the digest it
was found under, and claims an identity the requirement's ``signedIdentity`` accepts. For a
multi-arch pull, the candidates are the index and the chosen platform manifest: either may be
the one signed. At most ``MAX_EXAMINED`` signatures of each candidate are read, so that an
image carrying thousands of them costs a bounded number of requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidArgument, LaminaError, SignatureError
from lamina.model.digest import Digest
from lamina.model.reference import Reference
from lamina.remote.registry import Repository
from lamina.trust import identity, policy, registriesd
from lamina.trust.policy import Requirement
from lamina.trust.signature import BUNDLE, SIG, Signature
from lamina.trust.simple import ATOMIC_TYPE, COSIGN_TYPE, Claim

if TYPE_CHECKING:  # the crypto library is loaded only when a signature is checked
    from lamina.trust.keys import Verifier

MAX_EXAMINED = 64


@dataclass(frozen=True)
class TrustOptions:
    """``disabled``: --disable-content-trust as given (None: not given). ``policy_path``:
    --signature-policy. The rest comes from the engine's settings: DOCKER_CONTENT_TRUST
    (``env_content_trust``), the policy files to try when none is given, registries.d."""

    disabled: bool | None = None
    policy_path: str | None = None
    env_content_trust: bool = False
    policy_paths: tuple[Path, ...] = ()
    registries_d: Path | None = None

    @property
    def content_trust(self) -> bool:
        if self.disabled is not None:
            return not self.disabled
        return self.env_content_trust


@dataclass
class Verdict:
    """What the policy decided for one pulled image, kept in the store beside it."""

    reference: str
    scope: str
    requirements: list[str]
    verified: bool  # a signature was checked (not merely accepted)
    signatures: list[Signature] = field(default_factory=list)
    signers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"Reference": self.reference, "Scope": self.scope,
                "Requirements": self.requirements, "Verified": self.verified,
                "Signers": self.signers,
                "Signatures": [s.to_json() for s in self.signatures]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Verdict:
        return cls(doc["Reference"], doc["Scope"], list(doc["Requirements"]),
                   bool(doc["Verified"]), [Signature.from_json(s) for s in doc["Signatures"]],
                   list(doc.get("Signers") or []))


Found = tuple[list[Signature], int, list[str]]  # signatures, how many left unread, problems


class Collected:
    """The signatures of each candidate digest, per source, read at most once and only when
    needed: a ``.sig`` signature that satisfies the policy spares the referrers requests."""

    def __init__(self, repo: Repository, ref: Reference, location: registriesd.Location
                 ) -> None:
        self.repo = repo
        self.ref = ref
        self.location = location
        self._cache: dict[tuple[str, Digest], Found] = {}

    def sources(self, kind: str, digest: Digest) -> list[Callable[[], Found]]:
        # The .sig tag first (one request), then referrers: cosign's OCI 1.1 signatures, bundles.
        names = ("sig", "sigref", "bundle") if kind == policy.SIGSTORE_SIGNED else ("gpg",)
        return [partial(self._read, name, digest) for name in names]

    def _read(self, name: str, digest: Digest) -> Found:
        key = (name, digest)
        if key not in self._cache:
            self._cache[key] = self._load(name, digest)
        return self._cache[key]

    def _load(self, name: str, digest: Digest) -> Found:
        if name == "gpg":
            from lamina.trust import gpg

            if self.location.lookaside is None:
                return [], 0, ["no lookaside is configured for this scope"]
            found, skipped = gpg.read_lookaside(self.location.lookaside, self.ref, digest,
                                                MAX_EXAMINED)
            return found, skipped, []
        if not self.location.attachments:
            return [], 0, ["use-sigstore-attachments is off for this scope"]
        if name in ("sig", "sigref"):
            from lamina.trust import cosign

            read = cosign.read if name == "sig" else cosign.read_referrers
            sigs = read(self.repo, digest, MAX_EXAMINED)
            return sigs.signatures, sigs.skipped, []
        from lamina.trust import bundle

        bundles = bundle.read(self.repo, digest, MAX_EXAMINED)
        return bundles.signatures, bundles.skipped, bundles.problems


def check(repo: Repository, ref: Reference, candidates: Sequence[Digest],
          options: TrustOptions) -> Verdict | None:
    """The verdict for pulling ``ref`` whose manifests are ``candidates`` (the digest the
    reference resolves to first); None when no policy applies. SignatureError when refused."""
    if options.disabled:
        return None
    image = ref.docker_ref()
    path = policy.find(options.policy_path, options.policy_paths)
    if path is None:
        if options.content_trust:
            raise SignatureError(f"no trust data for {image.repository}: content trust is on "
                                 "and there is no signature policy file")
        return None
    loaded = policy.load(path)
    scope, requirements = loaded.requirements_for(image)
    label = f"image {image.familiar}, policy scope {_scope_label(scope)}"
    if options.content_trust and not any(r.demands_signature or r.type == policy.REJECT
                                         for r in requirements):
        raise SignatureError(f"no trust data for {image.repository}: the policy "
                             f"({_scope_label(scope)}) demands no signature for it")
    collected = Collected(repo, image, registriesd.location_for(image, options.registries_d))
    verdict = Verdict(str(image), scope, [r.describe() for r in requirements], False)
    for requirement in requirements:
        _apply(requirement, collected, image, candidates, verdict, label)
    return verdict


def _scope_label(scope: str) -> str:
    return scope if scope in ("default", 'docker ""') else f'"{scope}"'


def _apply(requirement: Requirement, collected: Collected, image: Reference,
           candidates: Sequence[Digest], verdict: Verdict, label: str) -> None:
    kind = requirement.type
    if kind == policy.ACCEPT_ANYTHING:
        return
    if kind == policy.REJECT:
        raise SignatureError(f"{label}: rejected: the policy's requirement is reject")
    if requirement.unsupported:
        raise SignatureError(f"{label}: {kind}: {requirement.unsupported}")
    reasons: list[str] = []
    examined = skipped = 0
    for digest in candidates:
        for source in collected.sources(kind, digest):
            try:
                found, more, problems = source()
            except SignatureError:
                raise
            except LaminaError as err:  # a registry or lookaside sending what cannot be read
                raise SignatureError(f"{label}: {kind}: reading the signatures of "
                                     f"{digest.short} failed: {err}") from err
            examined += len(found)
            skipped += more
            reasons += problems
            for signature in found:
                try:
                    ok, text = _judge(requirement, signature, image, digest)
                except SignatureError as err:  # a policy key that cannot be read
                    raise SignatureError(f"{label}: {err}") from None
                if not ok:
                    reasons.append(text)
                    continue
                verdict.verified = True
                verdict.signatures.append(signature)
                verdict.signers.append(text)
                return
    if examined == 0:
        why = "unsigned: no signature found for " + " or ".join(d.short for d in candidates)
        extra = [r for r in reasons if r]
        if extra:
            why += f" ({'; '.join(dict.fromkeys(extra))})"
    else:
        why = "; ".join(dict.fromkeys(reasons)) or "no signature satisfies it"
    if skipped:
        why += (f" (only the first {MAX_EXAMINED} signatures of each manifest were examined; "
                f"{skipped} more were not)")
    raise SignatureError(f"{label}: {kind} not satisfied: {why}")


def _judge(requirement: Requirement, signature: Signature, image: Reference,
           subject: Digest) -> tuple[bool, str]:
    """(True, the signer) if ``signature`` meets ``requirement``, else (False, why not)."""
    if requirement.type == policy.SIGSTORE_SIGNED:
        if signature.format not in (SIG, BUNDLE):
            return False, f"a {signature.format} signature cannot meet sigstoreSigned"
        verifier = next((v for v in _verifiers(requirement)
                         if v.verify(signature.message, signature.signature)), None)
        if verifier is None:
            return False, "wrong key: no signature verifies with the policy's key"
        try:
            claims = _claims(signature)
        except SignatureError as err:
            return False, str(err)
        signer = verifier.fingerprint
    else:
        from lamina.trust import gpg

        try:
            payload, fingerprint = gpg.verify(signature.message,
                                              [k.read() for k in requirement.keys])
        except SignatureError as err:
            return False, f"wrong key: {err}"
        from lamina.trust import simple

        try:
            claims = [simple.parse(payload, ATOMIC_TYPE)]
        except SignatureError as err:
            return False, str(err)
        signer = f"gpg:{fingerprint}"
    covering = [c for c in claims if c.digest == subject]
    if not covering:
        return False, (f"digest mismatch: the signature covers {claims[0].digest.short if claims else '?'}"
                f", not {subject.short}")
    if not any(identity.matches(requirement.identity, image, c.identity) for c in covering):
        return False, (f"identity mismatch: signed as {covering[0].identity}, which "
                f"{requirement.identity.type} does not accept for {image}")
    return True, signer


def _claims(signature: Signature) -> list[Claim]:
    if signature.format == SIG:
        from lamina.trust import simple

        return [simple.parse(signature.payload, COSIGN_TYPE)]
    from lamina.trust import bundle

    return bundle.claims(signature.payload)


# Parsed keys by their bytes: a long-lived process (the API service) sees a key file that
# changes, and parses each key once.
_VERIFIERS: dict[tuple[str, bytes], Verifier] = {}


def _verifiers(requirement: Requirement) -> list[Verifier]:
    from lamina.trust.keys import verifier_from_pem

    out = []
    for source in requirement.keys:
        try:
            data = source.read()
            key = (source.name, data)
            verifier = _VERIFIERS.get(key) or verifier_from_pem(data, source.name)
        except InvalidArgument as err:
            raise SignatureError(f"signature policy key: {err}") from None
        if key not in _VERIFIERS:
            if len(_VERIFIERS) > 256:
                _VERIFIERS.clear()
            _VERIFIERS[key] = verifier
        out.append(_VERIFIERS[key])
    return out
