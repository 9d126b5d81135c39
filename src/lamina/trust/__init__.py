"""Image signatures: keys, signing, the pull policy and its verification.

- ``keys``: cosign's key files (``ENCRYPTED SIGSTORE PRIVATE KEY``, SPKI public keys).
- ``simple``: the "simple signing" payload both cosign and GPG signatures carry.
- ``cosign``: the legacy ``sha256-<hex>.sig`` tag; ``bundle``: Sigstore bundles as referrers.
- ``gpg``: GPG simple signatures (gpg to sign, gpgv to verify) and lookaside stores.
- ``policy``, ``registriesd``, ``identity``: containers-policy.json(5) and registries.d(5).
- ``verify``: a policy's verdict on an image in a registry; ``sign``: signing one there.
- ``local``: the signatures and verdict kept in the store beside a pulled image.
"""
