"""``signedIdentity``: whether the identity a signature claims fits the image being pulled.

As containers/image defines them (``image`` is what the user named, ``signed`` the signature's
``docker-reference``):
- matchExact: both name a tag or digest, and are the same reference;
- matchRepoDigestOrExact: by digest, the same repository; by tag, matchExact (the default);
- matchRepository: the same repository;
- exactReference / exactRepository: ``signed`` is the reference / repository the policy names;
- remapIdentity: ``image`` with ``prefix`` replaced by ``signedPrefix``, then as the default.
"""

from __future__ import annotations

from lamina.errors import InvalidReference
from lamina.model.reference import Reference
from lamina.trust.policy import SignedIdentity


def matches(rule: SignedIdentity, image: Reference, signed_text: str) -> bool:
    try:
        signed = Reference.parse(signed_text)
    except InvalidReference:
        return False
    kind = rule.type
    if kind == "matchExact":
        return _exact(image, signed)
    if kind == "matchRepoDigestOrExact":
        return _repo_digest_or_exact(image, signed)
    if kind == "matchRepository":
        return image.repository == signed.repository
    if kind == "exactReference":
        assert rule.docker_reference is not None
        return _exact(Reference.parse(rule.docker_reference), signed)
    if kind == "exactRepository":
        assert rule.docker_repository is not None
        return Reference.parse(rule.docker_repository).repository == signed.repository
    if kind == "remapIdentity":
        assert rule.prefix is not None and rule.signed_prefix is not None
        return _repo_digest_or_exact(_remap(image, rule.prefix, rule.signed_prefix), signed)
    return False


def _exact(image: Reference, signed: Reference) -> bool:
    if image.is_name_only or signed.is_name_only:
        return False
    return str(image) == str(signed)


def _repo_digest_or_exact(image: Reference, signed: Reference) -> bool:
    if image.digest is not None:
        return image.repository == signed.repository
    return _exact(image, signed)


def _remap(image: Reference, prefix: str, signed_prefix: str) -> Reference:
    """``image`` with ``prefix`` (a host, namespace or repository, on a path boundary)
    replaced; unchanged if it does not start with it."""
    text = str(image)
    name = image.repository
    if name == prefix or name.startswith(prefix + "/"):
        try:
            return Reference.parse(signed_prefix + text[len(prefix):])
        except InvalidReference:
            return image
    return image
