"""Self-signed certificates for tests: a TLS registry on loopback, or a token issuer's cert."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any


def self_signed(key: Any, common_name: str = "127.0.0.1") -> bytes:
    """A PEM certificate for ``key``, issued by itself, valid from a day ago to a day ahead."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def write_tls_pair(directory: Path) -> tuple[Path, Path]:
    """``cert.pem`` and ``key.pem`` (P-256) for 127.0.0.1 in ``directory``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(self_signed(key))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
