"""Image references (``[domain/]path[:tag][@digest]``), parsed and normalised as docker does.

The grammar is distribution's reference grammar; normalisation follows its
``ParseNormalizedNamed`` (a short name gets the ``docker.io`` domain and, when it has a single
path component, the ``library/`` namespace), ``FamiliarString`` (the short form docker prints)
and ``TagNameOnly`` (the default tag is added only when neither tag nor digest is given).

Every pattern is matched with ``fullmatch`` and ASCII classes: Python's ``$`` also matches
before a trailing newline and ``\\w`` is Unicode-aware, both of which would admit names that
docker refuses.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from lamina.errors import InvalidDigest, InvalidReference
from lamina.model.digest import Digest

DEFAULT_DOMAIN: Final = "docker.io"
DEFAULT_TAG: Final = "latest"
LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
OFFICIAL_REPO_PREFIX: Final = "library/"
NAME_TOTAL_LENGTH_MAX: Final = 255

# --- the distribution grammar, piece by piece -------------------------------------------------
_ALPHANUMERIC = r"[a-z0-9]+"
# One period, one or two underscores, or any number of dashes.
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
# Compressed or full IPv6 only; zone identifiers and IPv4-mapped forms are left out on purpose.
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

TAG_RE: Final = re.compile(_TAG)
PATH_RE: Final = re.compile(_REMOTE_NAME)
DOMAIN_RE: Final = re.compile(_DOMAIN_AND_PORT)
NAME_RE: Final = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})")
REFERENCE_RE: Final = re.compile(
    rf"((?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?"
)
# A bare 64-hex string is an image ID, never a repository name.
IDENTIFIER_RE: Final = re.compile(r"[a-f0-9]{64}")

INVALID_FORMAT: Final = "invalid reference format"


class Reference(NamedTuple):
    """A normalised reference: ``domain/path`` plus an optional tag and an optional digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise ``text`` as docker's ``ParseNormalizedNamed`` does."""
        if not isinstance(text, str):
            raise InvalidReference(
                f"{INVALID_FORMAT}: expected a string, got {type(text).__name__}"
            )
        if IDENTIFIER_RE.fullmatch(text):
            raise InvalidReference(
                f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
            )
        domain, remainder = _split_docker_domain(text)
        remote = remainder.partition(":")[0]
        if remote.lower() != remote:
            raise InvalidReference(
                f"{INVALID_FORMAT}: repository name ({remote}) must be lowercase"
            )
        return _parse_full(f"{domain}/{remainder}")

    @property
    def repository(self) -> str:
        """``domain/path``, e.g. ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def name(self) -> str:
        """Same as ``repository`` (docker calls it the reference's Name)."""
        return self.repository

    @property
    def familiar_name(self) -> str:
        """The short name docker shows: ``nginx``, ``foo/bar``, ``host:5000/a/b``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        if self.path.startswith(OFFICIAL_REPO_PREFIX):
            rest = self.path[len(OFFICIAL_REPO_PREFIX) :]
            # Only one level under library/ is shortened, as in docker.
            if "/" not in rest:
                return rest
        return self.path

    @property
    def familiar(self) -> str:
        """The familiar string with ``:tag`` and/or ``@digest``, e.g. ``nginx:latest``."""
        return self.familiar_name + self._suffix()

    @property
    def is_name_only(self) -> bool:
        return self.tag is None and self.digest is None

    def with_tag(self, tag: str) -> Reference:
        return self._replace(tag=validate_tag(tag))

    def with_digest(self, digest: Digest | str) -> Reference:
        try:
            parsed = Digest.parse(digest)
        except InvalidDigest as err:
            raise InvalidReference(f"invalid digest format: {err}") from None
        return self._replace(digest=parsed)

    def without_tag(self) -> Reference:
        return self._replace(tag=None)

    def without_digest(self) -> Reference:
        return self._replace(digest=None)

    def with_default_tag(self) -> Reference:
        """Docker's ``TagNameOnly``: add ``latest`` only when neither tag nor digest is set."""
        if self.is_name_only:
            return self._replace(tag=DEFAULT_TAG)
        return self

    def docker_ref(self) -> Reference:
        """Docker's ``ParseDockerRef`` normal form: default tag, and a digest wins over a tag."""
        if self.digest is not None:
            return self._replace(tag=None)
        return self.with_default_tag()

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.repository + self._suffix()


def parse_reference(text: str) -> Reference:
    """Shorthand for ``Reference.parse``."""
    return Reference.parse(text)


def tag_target(text: str) -> Reference:
    """A name to give an image (tag, import, commit, build -t): the default tag added, and a
    digest refused, as docker refuses it."""
    ref = Reference.parse(text)
    if ref.digest is not None:
        raise InvalidReference(f"refusing to create a tag with a digest reference: {text}")
    return ref.with_default_tag()


def check_remote(ref: Reference) -> Reference:
    """``ref`` if lamina may send it to a registry, else InvalidReference.

    The reference grammar lets an uppercase first component be a host (``UPPER/case`` is
    ``case`` at the host ``UPPER``), so parsing accepts it; but a bare uppercase name is no
    registry, and docker's daemon refuses such a name as not lowercase before any lookup,
    where following the grammar would send a DNS query for ``UPPER``. A host with a dot or a
    port (``Example.com/x``, ``Host:5000/x``) is a host, in any case."""
    domain = ref.domain
    if domain.lower() != domain and not any(c in domain for c in ".:[") \
            and domain != "localhost":
        raise InvalidReference(f"{INVALID_FORMAT}: repository name must be lowercase")
    return ref


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it follows the tag grammar, else raise InvalidReference."""
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise InvalidReference(f"invalid tag format: {tag!r}")
    return tag


def validate_path(path: str) -> str:
    """Return ``path`` (a repository name without domain) if valid, else raise InvalidReference."""
    if not isinstance(path, str) or not path:
        raise InvalidReference("repository name must have at least one component")
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if not PATH_RE.fullmatch(path):
        if PATH_RE.fullmatch(path.lower()):
            raise InvalidReference(f"repository name ({path}) must be lowercase")
        raise InvalidReference(f"invalid repository name: {path!r}")
    return path


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    # The first component is a domain only if it looks like one: it has a dot or a port, is
    # "localhost", or has an uppercase letter (which a path component may not have).
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse_full(text: str) -> Reference:
    """Docker's ``Parse`` on an already-qualified string; the result must have a domain."""
    match = REFERENCE_RE.fullmatch(text)
    if match is None:
        if not text:
            raise InvalidReference("repository name must have at least one component")
        if REFERENCE_RE.fullmatch(text.lower()):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference(INVALID_FORMAT)
    name, tag, digest_text = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    name_match = NAME_RE.fullmatch(name)
    if name_match is None or name_match.group(1) is None:  # pragma: no cover - grammar guarantees
        raise InvalidReference(INVALID_FORMAT)
    digest: Digest | None = None
    if digest_text is not None:
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigest as err:
            raise InvalidReference(f"{INVALID_FORMAT}: {err}") from None
    return Reference(name_match.group(1), name_match.group(2), tag, digest)
