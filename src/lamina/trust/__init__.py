"""Image signatures: keys, signing, the pull policy and its verification.

- ``keys``: cosign's key files (``ENCRYPTED SIGSTORE PRIVATE KEY``, SPKI public keys).
- ``simple``: the "simple signing" payload both cosign and GPG signatures carry.
- ``cosign``: the legacy ``sha256-<hex>.sig`` tag; ``bundle``: Sigstore bundles as referrers.
- ``gpg``: GPG simple signatures (gpg to sign, gpgv to verify) and lookaside stores.
- ``policy``, ``registriesd``, ``identity``: containers-policy.json(5) and registries.d(5).
- ``verify``: a policy's verdict on an image in a registry; ``sign``: signing one there.
- ``local``: the signatures and verdict kept in the store beside a pulled image.
"""

from __future__ import annotations

import os

from lamina.errors import InvalidArgument


def read_file(path: str | os.PathLike[str], what: str, limit: int,
              error: type[InvalidArgument] = InvalidArgument) -> bytes:
    """A key or policy file of at most ``limit`` bytes; ``error`` names ``what`` and the path
    when it cannot be read or is larger (a file the user names may be anything: /dev/zero)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as err:
        raise error(f"{what} {path}: {err.strerror}") from None
    if len(data) > limit:
        raise error(f"{what} {path}: larger than {limit} bytes")
    return data
