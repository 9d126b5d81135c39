"""``lamina trust ...``: sign an image in its registry, list its signatures, remove them, and
verify it with a key; and the hooks pull and push call (``PullTrust``, ``carry``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidArgument, InvalidReference, SignatureError
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Index
from lamina.model.reference import Reference
from lamina.trust.signature import BUNDLE, GPG, SIG, Signature
from lamina.trust.verify import MAX_EXAMINED, TrustOptions, Verdict

if TYPE_CHECKING:
    from collections.abc import Callable

    from lamina.engine.settings import SignatureSettings
    from lamina.remote.options import RemoteOptions
    from lamina.remote.pull import RemoteImage
    from lamina.remote.registry import Repository
    from lamina.store import Store
    from lamina.trust.keys import Signer, Verifier

FORMATS = ("sig", "bundle", "both")


# Key files, for the CLI (lamina.trust.keys loads the crypto library: only when used).
def load_signer(path: str, passphrase: Callable[[], bytes]) -> Signer:
    from lamina.trust import keys

    return keys.load_signer(path, passphrase)


def load_verifier(path: str) -> Verifier:
    from lamina.trust import keys

    return keys.load_verifier(path)


def passphrase_from(file: str | None, given: bytes | None, *, confirm: bool = False) -> bytes:
    """From ``file``, else ``given`` (the settings' passphrase variable), else a prompt."""
    from lamina.trust import keys

    return keys.passphrase_from(file, given=given, confirm=confirm)


def trust_options(settings: SignatureSettings, given: TrustOptions | None) -> TrustOptions:
    """The flags as given (--disable-content-trust, --signature-policy), with what the
    settings say of the surroundings."""
    import dataclasses

    return dataclasses.replace(given or TrustOptions(),
                               env_content_trust=settings.content_trust,
                               policy_paths=settings.policy_paths,
                               registries_d=settings.registries_d)


def write_pair(name: str, algorithm: str, passphrase: bytes) -> tuple[Path, Path]:
    from lamina.trust import keys

    return keys.write_pair(name, algorithm, passphrase)
# What the CLI uses of lamina.trust, through the engine as every verb does.
__all__ = ["FORMATS", "PullTrust", "PushSigning", "Signed", "TrustOptions", "inspect",
           "load_signer", "load_verifier", "passphrase_from", "revoke", "sign", "verify",
           "write_pair"]


@dataclass(frozen=True)
class Signed:
    reference: str  # repository@digest signed
    format: str
    identity: str
    where: str


def identity_of(ref: Reference) -> str:
    """The identity a signature claims: the repository, with the tag when one was named."""
    if ref.tag is not None and ref.digest is None:
        return f"{ref.repository}:{ref.tag}"
    return ref.repository


def _open(ref: Reference, options: RemoteOptions, *, push: bool) -> tuple[Any, Repository]:
    from lamina.remote.session import Session

    session = Session(ref, options, push=push)
    repository = session.repository(session._endpoints()[-1 if push else 0])
    return session, repository


def _targets(repo: Repository, ref: Reference, recursive: bool) -> list[Descriptor]:
    """The manifest ``ref`` names and, with ``recursive``, its index's manifests. Without
    ``recursive`` a HEAD is enough (a registry serving only signed manifests answers it)."""
    from lamina.model import mediatype as mt
    from lamina.trust import oci

    reference = str(ref.digest) if ref.digest is not None else str(ref.with_default_tag().tag)
    what = f"manifest for {ref.familiar}"
    head = oci.head_manifest(repo, reference, what)
    if not recursive or not mt.is_index(head.media_type):
        return [head]
    top = repo.manifest(str(head.digest), what=what)
    subjects = [Descriptor(top.media_type, top.digest, len(top.raw))]
    if isinstance(top.parsed, Index):
        subjects += [d for d in top.parsed.manifests
                     if d.platform is None or d.platform.os != "unknown"]
    return subjects


def sign(name: str, options: RemoteOptions, signer: Signer | None, *, fmt: str = "sig",
         recursive: bool = False, gpg_key: str | None = None,
         gpg_passphrase_file: str | None = None, registries_d: Path | None = None
         ) -> list[Signed]:
    """Sign the image ``name`` names in its registry and store the signatures there."""
    from lamina.trust import bundle, cosign, gpg, registriesd, simple

    if fmt not in FORMATS:
        raise InvalidArgument(f"invalid --format {fmt!r}: one of {', '.join(FORMATS)}")
    ref = Reference.parse(name)
    identity = identity_of(ref.with_default_tag())
    staging = None
    if gpg_key is not None:  # known before anything is signed: a refusal leaves nothing behind
        staging = registriesd.location_for(ref, registries_d).lookaside_staging
        if staging is None:
            raise InvalidArgument(f"no lookaside-staging is configured for {ref.repository} "
                                  "in registries.d: GPG signatures have nowhere to go")
    session, repo = _open(ref, options, push=True)
    done: list[Signed] = []
    with session:
        subjects = _targets(repo, ref, recursive)
        for desc in subjects:
            at = f"{ref.repository}@{desc.digest}"
            message = None
            if gpg_key is not None:  # gpg first: a key it cannot use fails before any upload
                message = gpg.sign(simple.make(identity, desc.digest, simple.ATOMIC_TYPE,
                                               simple.creator()),
                                   gpg_key, gpg_passphrase_file)
            if signer is not None and fmt in ("sig", "both"):
                payload = simple.make(identity, desc.digest)
                cosign.attach(repo, desc.digest, payload, signer.sign(payload))
                done.append(Signed(at, SIG, identity, cosign.sig_tag(desc.digest)))
            if signer is not None and fmt in ("bundle", "both"):
                digest = bundle.attach(repo, desc, bundle.make(signer, identity, desc.digest))
                done.append(Signed(at, BUNDLE, identity, f"referrer {digest}"))
            if message is not None and staging is not None:
                url = gpg.write_lookaside(staging, ref, desc.digest, message)
                done.append(Signed(at, GPG, identity, url))
    return done


def inspect(name: str, options: RemoteOptions, keys: Sequence[Verifier] = (),
            registries_d: Path | None = None) -> list[dict[str, Any]]:
    """Each signature of the image (and of its platform manifests): format, signer, claimed
    identity, covered digest; ``Verified`` is set when ``keys`` are given."""
    ref = Reference.parse(name)
    session, repo = _open(ref, options, push=False)
    rows: list[dict[str, Any]] = []
    with session:
        subjects = _targets(repo, ref, True)
        for desc in subjects:
            for signature in _all_signatures(repo, ref, desc.digest, registries_d):
                rows.append(_describe(signature, desc.digest, keys))
    return rows


def _all_signatures(repo: Repository, ref: Reference, digest: Digest,
                    registries_d: Path | None) -> list[Signature]:
    from lamina.trust import bundle, cosign, gpg, registriesd

    found = cosign.read(repo, digest, MAX_EXAMINED).signatures
    found += cosign.read_referrers(repo, digest, MAX_EXAMINED).signatures
    found += bundle.read(repo, digest, MAX_EXAMINED).signatures
    location = registriesd.location_for(ref, registries_d)
    for base in dict.fromkeys(b for b in (location.lookaside, location.lookaside_staging) if b):
        found += gpg.read_lookaside(base, ref, digest, MAX_EXAMINED)[0]
    return found


def _describe(signature: Signature, digest: Digest, keys: Sequence[Verifier]
              ) -> dict[str, Any]:
    from lamina.trust import bundle, simple

    row: dict[str, Any] = {"Format": signature.format, "SignedDigest": str(digest),
                           "Where": signature.where}
    claims: list[simple.Claim] = []
    try:
        if signature.format == SIG:
            claims = [simple.parse(signature.payload, simple.COSIGN_TYPE)]
        elif signature.format == BUNDLE:
            claims = bundle.claims(signature.payload)
            hint = json.loads(base64_decode(signature.extra.get("bundle", ""))).get(
                "verificationMaterial", {}).get("publicKey", {}).get("hint")
            row["KeyHint"] = hint
    except (SignatureError, ValueError, AttributeError, RecursionError):
        row["Problem"] = "unreadable payload"
    if signature.format == GPG:
        from lamina.trust import gpg

        try:
            claims = [simple.parse(gpg.unverified_payload(signature.message) or b"",
                                   simple.ATOMIC_TYPE)]
        except SignatureError:
            row["Problem"] = "unreadable payload"
    if claims:
        row["Identity"] = claims[0].identity
        row["Digest"] = str(claims[0].digest)
    if signature.format == GPG:
        row["Signer"] = "gpg (verify with a signedBy policy)"
    elif keys:
        signer = next((k for k in keys if k.verify(signature.message, signature.signature)),
                      None)
        row["Verified"] = signer is not None
        row["Signer"] = signer.fingerprint if signer else "unknown key"
    else:
        row["Signer"] = "not checked (give --key)"
    return row


def base64_decode(text: str) -> str:
    import base64

    return base64.b64decode(text).decode() if text else "{}"


def revoke(name: str, options: RemoteOptions, registries_d: Path | None = None) -> int:
    """Remove every signature of the image (and of its platform manifests) from its
    registry and from the lookaside staging store; how many were removed."""
    from lamina.trust import bundle, cosign, gpg, registriesd

    ref = Reference.parse(name)
    session, repo = _open(ref, options, push=True)
    removed = 0
    with session:
        subjects = _targets(repo, ref, True)
        location = registriesd.location_for(ref, registries_d)
        for desc in subjects:
            removed += cosign.remove(repo, desc.digest)
            removed += bundle.remove(repo, desc.digest)
            if location.lookaside_staging:
                removed += gpg.remove_lookaside(location.lookaside_staging, ref, desc.digest)
    return removed


def verify(name: str, options: RemoteOptions, keys: Sequence[Verifier]) -> list[str]:
    """``cosign verify --key``'s check: the payloads of the signatures of ``name``'s manifest
    that verify with one of ``keys`` and cover it; SignatureError if there are none."""
    from lamina.trust import bundle, cosign

    ref = Reference.parse(name)
    session, repo = _open(ref, options, push=False)
    found: list[Signature] = []
    good: list[str] = []
    with session:
        [top] = _targets(repo, ref, False)
        # The .sig signatures first (what cosign verify reads); the bundles only if none is good.
        for read in (cosign.read, cosign.read_referrers, bundle.read):
            batch = read(repo, top.digest, MAX_EXAMINED).signatures
            found += batch
            good += [s.payload.decode() for s in batch if _covers(s, keys, top.digest, ref)]
            if good:
                break
    if not good:
        why = "no signatures found" if not found else "no signature verifies with the key " \
            "and covers this image"
        raise SignatureError(f"{ref.familiar}: {why}")
    return good


def _covers(signature: Signature, keys: Sequence[Verifier], digest: Digest,
            ref: Reference) -> bool:
    """Whether ``signature`` verifies with one of ``keys`` and claims ``digest`` in ``ref``'s
    repository."""
    from lamina.trust import bundle, simple

    if not any(k.verify(signature.message, signature.signature) for k in keys):
        return False
    try:
        claims = ([simple.parse(signature.payload, simple.COSIGN_TYPE)]
                  if signature.format == SIG else bundle.claims(signature.payload))
    except SignatureError:
        return False
    for claim in claims:
        try:
            if claim.digest == digest and \
                    Reference.parse(claim.identity).repository == ref.repository:
                return True
        except InvalidReference:
            continue
    return False


# --------------------------------------------------------------------------- hooks


class PullTrust:
    """What pull asks before storing anything (``check``) and after (``keep``)."""

    def __init__(self, options: TrustOptions) -> None:
        self.options = options

    def check(self, repository: Repository, ref: Reference, image: RemoteImage
              ) -> Verdict | None:
        candidates = [image.top.digest]
        if image.fetched.digest != image.top.digest:
            candidates.append(image.fetched.digest)
        try:
            return _check(repository, ref, candidates, self.options)
        except InvalidReference as err:
            raise SignatureError(str(err)) from None

    def keep(self, store: Store, image_id: Digest, ref: Reference, digest: Digest,
             verdict: Verdict | None) -> None:
        """Record the verdict beside the image; a pull under no policy forgets the verdict of
        an earlier one of the same reference (inspect tells how the image was last pulled)."""
        from lamina.trust import local

        pulled_as = f"{ref.repository}@{digest}"
        if verdict is None:
            local.forget(Path(store.root), image_id, pulled_as)
        else:
            local.keep(Path(store.root), image_id, pulled_as, verdict)


def _check(repository: Repository, ref: Reference, candidates: list[Digest],
           options: TrustOptions) -> Verdict | None:
    from lamina.trust.verify import check

    return check(repository, ref, candidates, options)


def carry(store: Store, repository: Repository, ref: Reference, image_id: Digest,
          digest: Digest, media_type: str, size: int, registries_d: Path | None = None) -> int:
    """Push the signatures kept for ``image_id`` whose subject is ``digest`` (the manifest
    pushed) to ``repository``: how many went."""
    from lamina.trust import bundle, cosign, gpg, local, registriesd

    sent = 0
    seen: set[bytes] = set()
    for verdict in local.verdicts(Path(store.root), image_id).values():
        for signature in verdict.signatures:
            if signature.subject != digest or signature.message + signature.signature in seen:
                continue
            seen.add(signature.message + signature.signature)
            if signature.format == SIG:
                cosign.attach(repository, digest, signature.payload, signature.signature)
            elif signature.format == BUNDLE:
                raw = base64_decode(signature.extra.get("bundle", "")).encode()
                bundle.attach(repository, Descriptor(media_type, digest, size), raw)
            else:
                staging = registriesd.location_for(ref, registries_d).lookaside_staging
                if staging is None:
                    continue
                gpg.write_lookaside(staging, ref, digest, signature.message)
            sent += 1
    return sent


def push_sign(repository: Repository, ref: Reference, desc: Descriptor,
              signer: Signer | None, gpg_key: str | None,
              gpg_passphrase_file: str | None, registries_d: Path | None = None) -> None:
    """``push --sign-by-sigstore-private-key`` / ``--sign-by``: sign what was just pushed."""
    from lamina.trust import cosign, gpg, registriesd, simple

    identity = identity_of(ref)
    if signer is not None:
        payload = simple.make(identity, desc.digest)
        cosign.attach(repository, desc.digest, payload, signer.sign(payload))
    if gpg_key is not None:
        staging = registriesd.location_for(ref, registries_d).lookaside_staging
        if staging is None:
            raise InvalidArgument(f"no lookaside-staging is configured for {ref.repository} "
                                  "in registries.d: GPG signatures have nowhere to go")
        message = gpg.sign(simple.make(identity, desc.digest, simple.ATOMIC_TYPE, simple.creator()), gpg_key,
                           gpg_passphrase_file)
        gpg.write_lookaside(staging, ref, desc.digest, message)


@dataclass
class PushSigning:
    """push's signature flags: --sign-by-sigstore-private-key (with its passphrase), --sign-by
    (a GPG fingerprint), --remove-signatures. ``settings``: the engine's signature settings
    (the passphrase variable, registries.d), which ``Engine.push`` fills in."""

    sigstore_key: str | None = None
    passphrase_file: str | None = None
    gpg_key: str | None = None
    remove_signatures: bool = False
    settings: SignatureSettings | None = None

    def __post_init__(self) -> None:
        self._signer: Signer | None = None

    def prepare(self, settings: SignatureSettings) -> None:
        """Read the key now (asking its passphrase): a bad key fails before any upload."""
        self.settings = settings
        if self.sigstore_key is not None and self._signer is None:
            self._signer = load_signer(
                self.sigstore_key,
                lambda: passphrase_from(self.passphrase_file, settings.passphrase))

    def after_push(self, store: Store, repository: Repository, ref: Reference,
                   image_id: Digest, manifest: Any, digest: Digest) -> None:
        registries_d = self.settings.registries_d if self.settings is not None else None
        if not self.remove_signatures:
            carry(store, repository, ref, image_id, digest, manifest.media_type,
                  len(manifest.raw), registries_d)
        if self._signer is not None or self.gpg_key is not None:
            push_sign(repository, ref, Descriptor(manifest.media_type, digest,
                                                  len(manifest.raw)),
                      self._signer, self.gpg_key,
                      self.passphrase_file if self._signer is None else None, registries_d)
