"""Signing keys in cosign's file formats.

A private key file is PEM ``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign 1.x wrote ``ENCRYPTED
COSIGN PRIVATE KEY``, read too): base64 of a JSON document that names scrypt's parameters and
salt and a NaCl secretbox nonce, and holds the secretbox of the key's PKCS#8 DER under the
32-byte scrypt key of the passphrase. A public key file is an SPKI PEM (``PUBLIC KEY``).

ECDSA keys sign the SHA-2 digest of their curve's size (P-256 and SHA-256 by default), DER
encoded; Ed25519 keys sign the message itself, as cosign and sigstore do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lamina.errors import InvalidArgument, SignatureError
from lamina.trust import read_file

PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
LEGACY_PEM_TYPES = ("ENCRYPTED COSIGN PRIVATE KEY",)
# cosign's parameters; a file may name others, within bounds that keep scrypt's memory sane.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 65536, 8, 1
MAX_SCRYPT_MEMORY = 1 << 30
ALGORITHMS = ("ecdsa-p256", "ed25519")
MAX_KEY_FILE = 64 * 1024

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


def _hash_for(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> hashes.HashAlgorithm:
    size = key.curve.key_size
    if size <= 256:
        return hashes.SHA256()
    return hashes.SHA384() if size <= 384 else hashes.SHA512()


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures; ``name`` says where it came from."""

    key: PublicKey
    name: str

    @property
    def spki(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the SPKI DER: how inspect names a key."""
        return "sha256:" + hashlib.sha256(self.spki).hexdigest()

    def pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, message)
            elif isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, message, ec.ECDSA(_hash_for(self.key)))
            else:
                self.key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    key: PrivateKey
    name: str

    def sign(self, message: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(message)
        return self.key.sign(message, ec.ECDSA(_hash_for(self.key)))

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.key.public_key(), self.name)


# --------------------------------------------------------------------------- passphrases


def passphrase_from(file: str | None, *, given: bytes | None = None, confirm: bool = False,
                    prompt: Callable[[str], str] | None = None) -> bytes:
    """The passphrase: from ``file`` (its first line), else ``given`` (the settings'
    $LAMINA_PASSPHRASE or $COSIGN_PASSWORD), else asked on the terminal (twice when
    ``confirm``)."""
    if file is not None:
        try:
            text = Path(file).read_bytes()[:4096]
        except OSError as err:
            raise InvalidArgument(f"passphrase file {file}: {err.strerror}") from None
        return text.split(b"\n", 1)[0].rstrip(b"\r")
    if given is not None:
        return given
    if prompt is None:
        if not sys.stdin.isatty():
            raise InvalidArgument("no passphrase: give --passphrase-file, set "
                                  "LAMINA_PASSPHRASE, or run on a terminal")
        import getpass

        prompt = getpass.getpass
    first = prompt("Enter password for private key: ")
    if confirm and prompt("Enter password for private key again: ") != first:
        raise InvalidArgument("passwords do not match")
    return first.encode()


# --------------------------------------------------------------------------- files


def generate(algorithm: str = "ecdsa-p256") -> PrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise InvalidArgument(f"unknown key algorithm {algorithm!r} (one of {', '.join(ALGORITHMS)})")


def encrypt_private(key: PrivateKey, passphrase: bytes) -> bytes:
    """The PEM of ``key`` in cosign's encrypted format."""
    from nacl.secret import SecretBox
    from nacl.utils import random

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt = random(32)
    box_key = _scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    nonce = random(SecretBox.NONCE_SIZE)
    sealed = SecretBox(box_key).encrypt(der, nonce).ciphertext
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return _pem(PEM_TYPE, json.dumps(doc, separators=(",", ":")).encode())


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def write_pair(name: str, algorithm: str, passphrase: bytes) -> tuple[Path, Path]:
    """``NAME.key`` (mode 0600) and ``NAME.pub``; an existing file is never overwritten."""
    key_path, pub_path = Path(f"{name}.key"), Path(f"{name}.pub")
    for path in (key_path, pub_path):
        if path.exists():
            raise InvalidArgument(f"{path} already exists: not overwriting it")
    key = generate(algorithm)
    written: list[Path] = []
    try:
        for path, data, mode in ((key_path, encrypt_private(key, passphrase), 0o600),
                                 (pub_path, public_pem(key), 0o644)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            written.append(path)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
    except OSError as err:
        for path in written:  # no half of a pair is left behind
            path.unlink(missing_ok=True)
        raise InvalidArgument(f"{err.filename}: {err.strerror}") from None
    return key_path, pub_path


def load_signer(path: str | os.PathLike[str], passphrase: Callable[[], bytes]) -> Signer:
    """A private key file: cosign's encrypted PEM (asks ``passphrase``) or a plain PKCS#8 PEM."""
    data = read_file(path, "private key", MAX_KEY_FILE)
    label, body = _unpem(data, str(path))
    if label in (PEM_TYPE, *LEGACY_PEM_TYPES):
        der = decrypt_private(body, passphrase(), str(path))
        key: Any = serialization.load_der_private_key(der, None)
    elif label in ("PRIVATE KEY", "EC PRIVATE KEY"):
        try:
            key = serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError) as err:
            raise InvalidArgument(f"{path}: not a usable private key: {err}") from None
    else:
        raise InvalidArgument(f"{path}: a PEM {label!r} is not a private key lamina can use")
    if not isinstance(key, PrivateKey):
        raise InvalidArgument(f"{path}: only ECDSA and Ed25519 keys can sign")
    return Signer(key, str(path))


def decrypt_private(body: bytes, passphrase: bytes, where: str) -> bytes:
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        doc = json.loads(body)
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise InvalidArgument(f"{where}: unsupported key encryption "
                                  f"{kdf['name']}/{cipher['name']}")
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt, nonce = _unb64(kdf["salt"]), _unb64(cipher["nonce"])
        sealed = _unb64(doc["ciphertext"])
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise InvalidArgument(f"{where}: not a valid encrypted key file ({err})") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * n * r * p > MAX_SCRYPT_MEMORY:
        raise InvalidArgument(f"{where}: scrypt parameters out of bounds (N={n} r={r} p={p})")
    if len(nonce) != SecretBox.NONCE_SIZE:
        raise InvalidArgument(f"{where}: the secretbox nonce has {len(nonce)} bytes, not 24")
    try:
        return bytes(SecretBox(_scrypt(passphrase, salt, n, r, p)).decrypt(sealed, nonce))
    except CryptoError:
        raise SignatureError(f"{where}: decrypting the private key failed: wrong passphrase?") \
            from None


def load_verifier(path: str | os.PathLike[str]) -> Verifier:
    return verifier_from_pem(read_file(path, "public key", MAX_KEY_FILE), str(path))


def verifier_from_pem(data: bytes, name: str) -> Verifier:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, IndexError):
        raise InvalidArgument(f"{name}: not a PEM public key") from None
    if not isinstance(key, PublicKey):
        raise InvalidArgument(f"{name}: unsupported public key type {type(key).__name__}")
    return Verifier(key, name)


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def _pem(label: str, body: bytes) -> bytes:
    text = base64.b64encode(body).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) +
            "\n").encode()


def _unpem(data: bytes, where: str) -> tuple[str, bytes]:
    text = data.decode("ascii", "replace").strip().splitlines()
    if len(text) < 2 or not text[0].startswith("-----BEGIN ") or not text[0].endswith("-----"):
        raise InvalidArgument(f"{where}: not a PEM file")
    label = text[0][len("-----BEGIN "):-5]
    try:
        end = text.index(f"-----END {label}-----")
    except ValueError:
        raise InvalidArgument(f"{where}: PEM block {label!r} has no end line") from None
    body = "".join(line.strip() for line in text[1:end] if ":" not in line)
    try:
        return label, base64.b64decode(body, validate=True)
    except ValueError:
        raise InvalidArgument(f"{where}: PEM body is not base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected a base64 string")
    return base64.b64decode(text, validate=True)
