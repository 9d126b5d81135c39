"""Content digests (``algorithm:hex``), as the OCI image spec defines them.

A ``Digest`` is a ``str`` so it can be stored, compared, hashed and serialised as is; it can
only be made through ``Digest.parse`` or ``Digest.of``, which validate it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from lamina.errors import IntegrityError, InvalidDigest, Unsupported

# Algorithms lamina accepts, with the exact hex length of each.
ALGORITHMS: Final = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")
# The grammar of the image spec, to tell "malformed" from "unsupported algorithm".
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


class Digest(str):
    """A validated ``algorithm:hex`` digest."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Validate ``text`` and return it as a Digest; raise InvalidDigest if it is not one."""
        if isinstance(text, Digest):
            return text
        if not isinstance(text, str) or not _GRAMMAR.fullmatch(text):
            raise InvalidDigest(f"invalid digest {text!r}: expected algorithm:hex")
        algorithm, _, hex_ = text.partition(":")
        length = ALGORITHMS.get(algorithm)
        if length is None:
            raise InvalidDigest(f"invalid digest {text!r}: unsupported algorithm {algorithm!r}")
        if len(hex_) != length or not _HEX.fullmatch(hex_):
            raise InvalidDigest(
                f"invalid digest {text!r}: {algorithm} needs {length} lowercase hex digits"
            )
        return str.__new__(cls, text)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        return str.__new__(cls, f"{algorithm}:{_new_hash(algorithm)(data).hexdigest()}")

    @classmethod
    def from_hex(cls, hex_: str, algorithm: str = "sha256") -> Digest:
        return cls.parse(f"{algorithm}:{hex_}")

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        return self.partition(":")[2]

    @property
    def short(self) -> str:
        """The 12-hex-digit form docker shows."""
        return self.hex[:12]

    def __repr__(self) -> str:
        return f"Digest({str.__repr__(self)})"


def _new_hash(algorithm: str) -> Callable[..., Any]:
    if algorithm not in ALGORITHMS:
        raise Unsupported(f"unsupported digest algorithm {algorithm!r}")
    import hashlib  # (OpenSSL's loading is felt at start-up; many commands never hash)

    return getattr(hashlib, algorithm)


class Hasher:
    """Computes a digest while bytes stream through, and checks it at the end."""

    __slots__ = ("_hash", "algorithm", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._hash = _new_hash(algorithm)()
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return str.__new__(Digest, f"{self.algorithm}:{self._hash.hexdigest()}")

    def verify(self, expected: Digest, size: int | None = None, *, what: str = "content") -> None:
        """Raise IntegrityError unless the bytes seen have ``expected`` digest (and size)."""
        if size is not None and self.size != size:
            raise IntegrityError(f"{what}: size {self.size} does not match expected {size}")
        actual = self.digest()
        if actual != expected:
            raise IntegrityError(f"{what}: digest {actual} does not match expected {expected}")


def hasher_for(expected: Digest) -> Hasher:
    """A Hasher using the algorithm of ``expected``."""
    return Hasher(expected.algorithm)
