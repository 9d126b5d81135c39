"""An htpasswd file of bcrypt hashes, as Apache's ``htpasswd -B`` and the CNCF registry use.

The file is parsed again only when it changes (by mtime, size and inode), so users can be added
while the registry runs. Only bcrypt entries are accepted: the other htpasswd formats (MD5-crypt,
SHA1, crypt, plain) are weak, and an entry in one of them never authenticates anyone.

bcrypt is slow on purpose (tens of milliseconds at the usual cost), and clients send Basic
credentials on every request, so a successful check is remembered: by an HMAC, under a key born
with the process, of the user, the password and the stored hash. The password itself is never
kept, and a change of the hash in the file (a new password) stops the old one at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import bcrypt

from lamina.errors import InvalidArgument

log = logging.getLogger(__name__)

_BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")
_VERIFIED_CACHE_SIZE = 1024
# bcrypt reads at most 72 bytes of a password (bcrypt 5 refuses more with ValueError, older
# versions ignore the rest). A longer password is never set, and never authenticates anyone.
MAX_PASSWORD_BYTES = 72


@lru_cache(maxsize=8)
def _dummy_hash(cost: bytes) -> bytes:
    """A hash to check against when the user is unknown, at the cost the file uses, so that an
    unknown user takes as long as a wrong password and timing does not tell which users exist."""
    rounds = int(cost) if cost.isdigit() and 4 <= int(cost) <= 31 else 10
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))


def parse(text: str, *, source: str = "htpasswd") -> dict[str, bytes]:
    """Map user -> bcrypt hash from the text of an htpasswd file; skip what is not bcrypt."""
    users: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            log.warning("%s:%d: not a user:hash line, ignored", source, number)
            continue
        encoded = hashed.encode("ascii", "replace")
        if not encoded.startswith(_BCRYPT_PREFIXES):
            log.warning("%s:%d: user %s has no bcrypt hash, ignored", source, number, user)
            continue
        users[user] = encoded
    return users


def hash_password(password: str, *, rounds: int = 10) -> str:
    """A bcrypt hash for an htpasswd line (``$2y$`` as Apache writes it)."""
    if not password:
        raise InvalidArgument("the password is empty")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise InvalidArgument(
            f"the password is {len(password.encode())} bytes long; bcrypt "
            f"uses at most {MAX_PASSWORD_BYTES}"
        )
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
    return "$2y$" + hashed[4:]


def set_user(path: Path, user: str, password: str, *, rounds: int = 10) -> None:
    """Add ``user`` to the htpasswd file at ``path``, or change their password; atomically."""
    if not user or ":" in user or any(c.isspace() for c in user):
        raise InvalidArgument(f"invalid user name {user!r}: no colon or blank allowed")
    lines = path.read_text().splitlines() if path.exists() else []
    entry = f"{user}:{hash_password(password, rounds=rounds)}"
    kept = [line for line in lines if line.partition(":")[0] != user]
    kept.append(entry)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(kept) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Htpasswd:
    """Checks user names and passwords against an htpasswd file; safe to share across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, bytes] = {}
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()

    def users(self) -> dict[str, bytes]:
        """The parsed file, read again only if it changed since the last call."""
        try:
            st = self.path.stat()
        except OSError as e:
            # A missing file means nobody can log in; say so loudly but keep serving.
            log.error("htpasswd file %s cannot be read: %s", self.path, e.strerror)
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if stamp != self._stamp:
                self._users = parse(self.path.read_text(errors="replace"), source=str(self.path))
                self._stamp = stamp
                self._verified.clear()
            return self._users

    def check(self, user: str, password: str) -> bool:
        """True if ``password`` is ``user``'s. Blocking (bcrypt): call it from a thread.

        Every refusal takes the same way, and one bcrypt check at the file's cost: an unknown
        user is checked against a dummy hash, a password bcrypt cannot take (too long, a NUL)
        against the first 72 bytes, so neither the answer nor its time tells which users exist.
        """
        users = self.users()
        hashed = users.get(user)
        secret = password.encode("utf-8", "surrogateescape")
        usable = len(secret) <= MAX_PASSWORD_BYTES
        mark = b""
        if hashed is None:
            sample = next(iter(users.values()), b"$2y$10$")
            hashed, usable = _dummy_hash(sample[4:6]), False
        elif usable:
            mark = self._mark(user, secret, hashed)
            with self._lock:
                if mark in self._verified:
                    self._verified.move_to_end(mark)
                    return True
        try:
            ok = bcrypt.checkpw(secret[:MAX_PASSWORD_BYTES], hashed)
        except ValueError:  # a malformed hash in the file, or a password bcrypt refuses
            if user in users and _malformed(hashed):
                log.warning("htpasswd file %s: user %s has a malformed hash", self.path, user)
            return False
        if not (ok and usable):
            return False
        with self._lock:
            self._verified[mark] = None
            while len(self._verified) > _VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return True

    def is_cached(self, user: str, password: str) -> bool:
        """True if this exact pair was verified before: it can be checked without a thread."""
        hashed = self.users().get(user)
        if hashed is None:
            return False
        mark = self._mark(user, password.encode("utf-8", "surrogateescape"), hashed)
        with self._lock:
            return mark in self._verified

    def _mark(self, user: str, secret: bytes, hashed: bytes) -> bytes:
        parts = (user.encode("utf-8", "surrogateescape"), secret, hashed)
        return hmac.new(self._key, b"\0".join(parts), hashlib.sha256).digest()


def _malformed(hashed: bytes) -> bool:
    try:
        bcrypt.checkpw(b"", hashed)
    except ValueError:
        return True
    return False
