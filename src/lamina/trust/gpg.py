"""GPG "simple signing": an OpenPGP-signed message (not detached) whose content is the
simple-signing payload of type ``atomic container signature`` — what skopeo and podman write
with ``--sign-by`` and verify with a ``signedBy`` policy.

gpg signs (with the user's keyring, or ``GNUPGHOME``'s); gpgv verifies, against exactly the
keys a policy names, in a throwaway home: the user's keyring never takes part in a verdict.
Signatures live in a lookaside store (registries.d): ``file://`` stores are read and written
here, ``http(s)://`` ones are read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from lamina.errors import InvalidArgument, SignatureError
from lamina.model.digest import Digest
from lamina.model.reference import Reference
from lamina.trust.registriesd import lookaside_path
from lamina.trust.signature import GPG, Signature

MAX_SIGNATURE = 4 * 1024 * 1024
TIMEOUT = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SignatureError(f"{name} is not installed: GPG signatures need it")
    return path


def sign(payload: bytes, fingerprint: str, passphrase_file: str | None = None) -> bytes:
    """The OpenPGP message signing ``payload`` with the secret key ``fingerprint``."""
    argv = [_tool("gpg"), "--batch", "--no-tty", "--yes", "--sign", "--local-user",
            fingerprint, "--output", "-"]
    if passphrase_file is not None:
        argv[1:1] = ["--pinentry-mode", "loopback", "--passphrase-file", passphrase_file]
    done = subprocess.run(argv, input=payload, capture_output=True, timeout=TIMEOUT,
                          check=False)
    if done.returncode != 0 or not done.stdout:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]
        raise SignatureError(f"gpg could not sign with {fingerprint}: {last}")
    return done.stdout


def verify(message: bytes, keyrings: list[bytes]) -> tuple[bytes, str]:
    """The payload of ``message`` and the fingerprint that signed it, if one of ``keyrings``
    (binary or armored) holds that key; SignatureError otherwise."""
    with tempfile.TemporaryDirectory(prefix="lamina-gpgv-") as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        args: list[str] = []
        for i, keyring in enumerate(keyrings):
            path = home / f"keyring{i}.gpg"
            path.write_bytes(_dearmor(keyring, home) if b"-----BEGIN PGP" in keyring[:100]
                             else keyring)
            args += ["--keyring", str(path)]
        signed = home / "message.gpg"
        signed.write_bytes(message)
        out = home / "payload"
        done = subprocess.run([_tool("gpgv"), "--homedir", tmp, "--status-fd", "1", *args,
                               "--output", str(out), str(signed)],
                              capture_output=True, timeout=TIMEOUT, check=False,
                              env={**os.environ, "LC_ALL": "C"})
        status = done.stdout.decode(errors="replace").splitlines()
        valid = [line.split() for line in status if line.startswith("[GNUPG:] VALIDSIG ")]
        if done.returncode != 0 or not valid or not out.exists():
            codes = [line.split()[1] for line in status if line.startswith("[GNUPG:] ")
                     and len(line.split()) > 1]
            why = "signed by a key the policy does not trust" if "NO_PUBKEY" in codes else \
                "the signature is invalid" if "BADSIG" in codes else "not a valid signature"
            raise SignatureError(why)
        return out.read_bytes(), valid[0][2]


def unverified_payload(message: bytes) -> bytes | None:
    """The content of an OpenPGP message, its signature unchecked (for display only)."""
    with tempfile.TemporaryDirectory(prefix="lamina-gpg-") as tmp:
        Path(tmp).chmod(0o700)
        done = subprocess.run([_tool("gpg"), "--homedir", tmp, "--batch", "--no-tty",
                               "--decrypt"], input=message, capture_output=True,
                              timeout=TIMEOUT, check=False)
    return done.stdout or None


def _dearmor(armored: bytes, home: Path) -> bytes:
    done = subprocess.run([_tool("gpg"), "--homedir", str(home), "--batch", "--dearmor"],
                          input=armored, capture_output=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise SignatureError("a policy key is not an OpenPGP keyring")
    return done.stdout


# --------------------------------------------------------------------------- lookaside


def read_lookaside(base: str, ref: Reference, digest: Digest, limit: int
                   ) -> tuple[list[Signature], int]:
    """Signatures ``signature-1``, ``-2``... of ``digest`` under ``base``, the first
    ``limit``; and whether more were left unread (1) or not (0)."""
    found: list[Signature] = []
    for index in range(1, limit + 1):
        url = lookaside_path(base, ref, digest, index)
        data = _get(url)
        if data is None:
            return found, 0
        found.append(Signature(GPG, digest, data, b"", b"", url))
    more = _get(lookaside_path(base, ref, digest, limit + 1)) is not None
    return found, int(more)


def _get(url: str) -> bytes | None:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_SIGNATURE + 1)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise SignatureError(f"lookaside {url}: {err.strerror}") from None
    elif parsed.scheme in ("http", "https"):
        import httpx

        try:
            with httpx.stream("GET", url, timeout=30) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise SignatureError(f"lookaside {url}: HTTP {response.status_code}")
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_SIGNATURE:
                        break
        except httpx.HTTPError as err:
            raise SignatureError(f"lookaside {url}: {err}") from None
    else:
        raise InvalidArgument(f"lookaside {url}: only file://, http:// and https:// are read")
    if len(data) > MAX_SIGNATURE:
        raise SignatureError(f"lookaside {url}: a signature larger than {MAX_SIGNATURE} bytes")
    return data


def write_lookaside(base: str, ref: Reference, digest: Digest, message: bytes) -> str:
    """Store ``message`` as the next free ``signature-N`` under a ``file://`` staging base
    (an identical signature already there is not written twice); its URL."""
    if urlparse(base).scheme != "file":
        raise InvalidArgument(f"lookaside-staging {base}: only file:// can be written")
    for index in range(1, 10_000):
        url = lookaside_path(base, ref, digest, index)
        path = Path(unquote(urlparse(url).path))
        if path.exists():
            if path.read_bytes() == message:
                return url
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(message)
        os.replace(tmp, path)
        return url
    raise SignatureError(f"lookaside {base}: too many signatures for {digest}")


def remove_lookaside(base: str, ref: Reference, digest: Digest) -> int:
    if urlparse(base).scheme != "file":
        return 0
    removed = 0
    for index in range(1, 10_000):
        path = Path(unquote(urlparse(lookaside_path(base, ref, digest, index)).path))
        if not path.exists():
            break
        path.unlink()
        removed += 1
    return removed
