"""containers-policy.json(5): which signatures an image must carry, per registry or repository.

Parsed strictly, as containers/image parses it: an unknown field, a missing ``default``, an
empty requirement list or a requirement with the wrong fields is an error naming where it is,
never a policy silently weaker than the file says. Only the ``docker`` transport matters to
lamina (images come from registries); other transports' scopes are parsed and ignored.

Scopes of the docker transport, most specific first: ``host/repo:tag`` or ``host/repo@digest``,
``host/repo``, each parent namespace, ``host[:port]``, ``*.domain`` wildcards from the longest
domain, then the transport's ``""`` scope, then ``default``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.errors import InvalidArgument, InvalidReference
from lamina.model.reference import Reference
from lamina.trust import read_file

ACCEPT_ANYTHING = "insecureAcceptAnything"
REJECT = "reject"
SIGNED_BY = "signedBy"
SIGSTORE_SIGNED = "sigstoreSigned"
SIGNED_BASE_LAYER = "signedBaseLayer"
IDENTITY_TYPES = ("matchExact", "matchRepoDigestOrExact", "matchRepository", "exactReference",
                  "exactRepository", "remapIdentity")
MAX_POLICY = 1024 * 1024


class PolicyError(InvalidArgument):
    """A policy file that cannot be used as written."""


@dataclass(frozen=True)
class SignedIdentity:
    type: str = "matchRepoDigestOrExact"
    docker_reference: str | None = None
    docker_repository: str | None = None
    prefix: str | None = None
    signed_prefix: str | None = None

    def describe(self) -> str:
        arg = self.docker_reference or self.docker_repository or (
            f"{self.prefix} -> {self.signed_prefix}" if self.prefix else "")
        return f"{self.type}({arg})" if arg else self.type


@dataclass(frozen=True)
class KeySource:
    """A key named in the policy: a file, or the bytes of ``keyData``."""

    path: Path | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except OSError as err:
            raise PolicyError(f"policy key {self.path}: {err.strerror}") from None

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "keyData"


@dataclass(frozen=True)
class Requirement:
    type: str
    keys: tuple[KeySource, ...] = ()
    identity: SignedIdentity = field(default_factory=SignedIdentity)
    unsupported: str | None = None  # why this requirement can never be met offline

    def describe(self) -> str:
        if self.type in (SIGNED_BY, SIGSTORE_SIGNED):
            keys = ", ".join(k.name for k in self.keys) or "keyless"
            return f"{self.type} (keys: {keys}; identity: {self.identity.describe()})"
        return self.type

    @property
    def demands_signature(self) -> bool:
        return self.type in (SIGNED_BY, SIGSTORE_SIGNED, SIGNED_BASE_LAYER)


@dataclass(frozen=True)
class Policy:
    default: tuple[Requirement, ...]
    docker: dict[str, tuple[Requirement, ...]]
    path: Path

    def requirements_for(self, ref: Reference) -> tuple[str, tuple[Requirement, ...]]:
        """The scope that applies to ``ref`` (as the policy names it) and its requirements."""
        for scope in scopes_of(ref):
            if scope in self.docker:
                return scope, self.docker[scope]
        if "" in self.docker:
            return 'docker ""', self.docker[""]
        return "default", self.default


def scopes_of(ref: Reference) -> list[str]:
    """The docker transport's scope names for ``ref``, most specific first."""
    out: list[str] = []
    if ref.digest is not None:
        out.append(f"{ref.repository}@{ref.digest}")
    elif ref.tag is not None:
        out.append(f"{ref.repository}:{ref.tag}")
    parts = ref.repository.split("/")
    for end in range(len(parts), 0, -1):
        out.append("/".join(parts[:end]))
    host = ref.domain.split(":")[0]
    labels = host.split(".")
    for start in range(1, len(labels)):
        out.append("*." + ".".join(labels[start:]))
    return out


def find(explicit: str | None, defaults: Sequence[Path]) -> Path | None:
    """The policy file in force: ``explicit``, else the first of ``defaults`` that exists
    (the user's ``~/.config/containers/policy.json``, then ``/etc/containers/policy.json``)."""
    if explicit is not None:
        return Path(explicit)
    for path in defaults:
        if path.exists():
            return path
    return None


def load(path: Path) -> Policy:
    return parse(read_file(path, "signature policy", MAX_POLICY, PolicyError), path)


def parse(raw: bytes, path: Path) -> Policy:
    where = f"signature policy {path}"
    try:
        doc = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as err:
        raise PolicyError(f"{where}: invalid JSON: {err}") from None
    obj = _object(doc, where)
    _fields(obj, where, required={"default"}, optional={"transports"})
    base = path.parent
    default = _requirements(obj["default"], f"{where}: default", base)
    docker: dict[str, tuple[Requirement, ...]] = {}
    transports = _object(obj.get("transports", {}), f"{where}: transports")
    for transport, scopes_doc in transports.items():
        scopes = _object(scopes_doc, f"{where}: transports.{transport}")
        for scope, reqs in scopes.items():
            at = f"{where}: transports.{transport}[{scope!r}]"
            parsed = _requirements(reqs, at, base)
            if transport == "docker":
                _check_docker_scope(scope, at)
                docker[scope] = parsed
    return Policy(default, docker, path)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate field {key!r}")
        out[key] = value
    return out


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected a JSON object")
    return value


def _fields(obj: dict[str, Any], where: str, *, required: set[str], optional: set[str]) -> None:
    unknown = sorted(set(obj) - required - optional)
    if unknown:
        raise PolicyError(f"{where}: unknown field {unknown[0]!r}")
    missing = sorted(required - set(obj))
    if missing:
        raise PolicyError(f"{where}: missing field {missing[0]!r}")


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: {key} must be a non-empty string")
    return value


def _check_docker_scope(scope: str, where: str) -> None:
    if scope == "":
        return
    if scope.startswith("*."):
        if "/" in scope or ":" in scope or len(scope) < 3:
            raise PolicyError(f"{where}: a wildcard scope is *.domain only")
        return
    if scope != scope.strip() or " " in scope or scope.endswith("/"):
        raise PolicyError(f"{where}: invalid scope")
    if "/" not in scope:
        return  # host[:port]
    try:
        ref = Reference.parse(scope)
    except InvalidReference as err:
        raise PolicyError(f"{where}: invalid scope: {err}") from None
    if str(ref) != scope:
        raise PolicyError(f"{where}: scope must be fully qualified ({str(ref)!r})")


def _requirements(value: Any, where: str, base: Path) -> tuple[Requirement, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError(f"{where}: expected a non-empty list of requirements")
    return tuple(_requirement(item, f"{where}[{i}]", base) for i, item in enumerate(value))


def _requirement(value: Any, where: str, base: Path) -> Requirement:
    obj = _object(value, where)
    kind = obj.get("type")
    if kind in (ACCEPT_ANYTHING, REJECT):
        _fields(obj, where, required={"type"}, optional=set())
        return Requirement(kind)
    if kind == SIGNED_BY:
        _fields(obj, where, required={"type", "keyType"},
                optional={"keyPath", "keyPaths", "keyData", "signedIdentity"})
        if obj["keyType"] != "GPGKeys":
            raise PolicyError(f"{where}: keyType {obj['keyType']!r} is not supported "
                              "(only GPGKeys)")
        gpg_keys = _keys(obj, where, base, ("keyPath", "keyPaths", "keyData"))
        return Requirement(kind, gpg_keys, _identity(obj.get("signedIdentity"), where))
    if kind == SIGSTORE_SIGNED:
        _fields(obj, where, required={"type"},
                optional={"keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki",
                          "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData",
                          "rekorPublicKeyDatas", "signedIdentity"})
        sources = [k for k in ("keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki")
                   if k in obj]
        if len(sources) != 1:
            raise PolicyError(f"{where}: exactly one of keyPath, keyPaths, keyData, keyDatas, "
                              "fulcio and pki is required")
        unsupported = None
        keys: tuple[KeySource, ...] = ()
        if sources[0] in ("fulcio", "pki"):
            _object(obj[sources[0]], f"{where}.{sources[0]}")
            unsupported = f"{sources[0]} (keyless) signatures need Fulcio, out of reach offline"
        else:
            keys = _keys(obj, where, base, ("keyPath", "keyPaths", "keyData", "keyDatas"))
        if any(k.startswith("rekorPublicKey") for k in obj):
            unsupported = "a Rekor public key demands transparency-log entries, which " \
                          "lamina's offline signatures do not carry"
        return Requirement(kind, keys, _identity(obj.get("signedIdentity"), where), unsupported)
    if kind == SIGNED_BASE_LAYER:
        _fields(obj, where, required={"type", "baseLayerIdentity"}, optional=set())
        _identity(obj["baseLayerIdentity"], where)
        return Requirement(kind, unsupported="signedBaseLayer is not implemented")
    raise PolicyError(f"{where}: unknown requirement type {kind!r}")


def _keys(obj: dict[str, Any], where: str, base: Path, names: tuple[str, ...]
          ) -> tuple[KeySource, ...]:
    given = [n for n in names if n in obj]
    if len(given) != 1:
        raise PolicyError(f"{where}: exactly one of {', '.join(names)} is required")
    name = given[0]
    value = obj[name]
    values = value if name.endswith("s") else [value]
    if not isinstance(values, list) or not values or \
            not all(isinstance(v, str) and v for v in values):
        raise PolicyError(f"{where}: {name} must be a non-empty string"
                          + (" list" if name.endswith("s") else ""))
    if name.startswith("keyPath"):
        return tuple(KeySource(path=base / os.path.expanduser(v)) for v in values)
    try:
        return tuple(KeySource(data=base64.b64decode(v, validate=True)) for v in values)
    except (binascii.Error, ValueError):
        raise PolicyError(f"{where}: {name} is not base64") from None


def _identity(value: Any, where: str) -> SignedIdentity:
    if value is None:
        return SignedIdentity()
    at = f"{where}.signedIdentity"
    obj = _object(value, at)
    kind = obj.get("type")
    if kind not in IDENTITY_TYPES:
        raise PolicyError(f"{at}: unknown type {kind!r}")
    if kind == "exactReference":
        _fields(obj, at, required={"type", "dockerReference"}, optional=set())
        text = _string(obj, "dockerReference", at)
        ref = _reference(text, at)
        if ref.is_name_only:
            raise PolicyError(f"{at}: dockerReference {text!r} needs a tag or digest")
        return SignedIdentity(kind, docker_reference=text)
    if kind == "exactRepository":
        _fields(obj, at, required={"type", "dockerRepository"}, optional=set())
        text = _string(obj, "dockerRepository", at)
        _reference(text, at)
        return SignedIdentity(kind, docker_repository=text)
    if kind == "remapIdentity":
        _fields(obj, at, required={"type", "prefix", "signedPrefix"}, optional=set())
        prefix, signed = _string(obj, "prefix", at), _string(obj, "signedPrefix", at)
        for text in (prefix, signed):
            if not _valid_prefix(text):
                raise PolicyError(f"{at}: {text!r} is not a host, namespace or repository")
        return SignedIdentity(kind, prefix=prefix, signed_prefix=signed)
    _fields(obj, at, required={"type"}, optional=set())
    return SignedIdentity(kind)


def _reference(text: str, where: str) -> Reference:
    try:
        return Reference.parse(text)
    except InvalidReference as err:
        raise PolicyError(f"{where}: {err}") from None


def _valid_prefix(text: str) -> bool:
    if "/" not in text:
        return "." in text or ":" in text or text == "localhost"
    try:
        ref = Reference.parse(text)
    except InvalidReference:
        return False
    return ref.is_name_only and ref.repository == text
