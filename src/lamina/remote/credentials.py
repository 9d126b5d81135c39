"""Registry credentials in docker's ``config.json``, so docker and lamina share their logins.

The file is ``$DOCKER_CONFIG/config.json``, or ``~/.docker/config.json``. Its ``auths`` map a
server to ``{"auth": base64("user:password")}`` (and ``identitytoken`` for a refresh token);
Docker Hub's key is ``https://index.docker.io/v1/``, every other registry's is ``host[:port]``.
``credHelpers`` (per registry) and ``credsStore`` (for all) name a ``docker-credential-<name>``
program that keeps the secret instead, spoken to with docker's helper protocol: the action
(``get``, ``store``, ``erase``) as argument, the server URL or a JSON object on stdin, a JSON
object on stdout. As docker does, a registry whose secret a helper keeps still gets an empty
entry in ``auths``, which is how ``logout`` knows it is logged in.

The file is rewritten atomically (temporary file, fsync, rename) with mode 0600, and every key
lamina does not know (``proxies``, ``psFormat``, ``HttpHeaders``...) is kept as it was.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lamina.errors import InvalidArgument, LaminaError, NotFound, StorageError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_NAMES = {
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
}
# docker's helper convention: this username means the secret is an identity (refresh) token.
IDENTITY_TOKEN_USER = "<token>"
_HELPER_TIMEOUT = 60.0
_NOT_FOUND = "credentials not found in native keychain"


def config_dir() -> Path:
    """docker's default: ``$DOCKER_CONFIG``, else ``~/.docker``. The engine passes the
    directory its settings name; this is for callers of the library that pass none."""
    env = os.environ.get("DOCKER_CONFIG")
    return Path(env) if env else Path.home() / ".docker"


def config_path(directory: Path | None = None) -> Path:
    return (directory or config_dir()) / "config.json"


def hostname(server: str) -> str:
    """docker's ConvertToHostname: ``https://host:5000/v1/`` -> ``host:5000``."""
    server = server.strip()
    if "://" in server:
        server = urlsplit(server).netloc or server.split("://", 1)[1]
    return server.split("/", 1)[0].lower()


def server_key(server: str | None) -> str:
    """The key of ``server`` in ``auths``: Docker Hub's URL, or ``host[:port]``."""
    if not server or hostname(server) in _DOCKER_HUB_NAMES:
        return DOCKER_HUB_KEY
    return hostname(server)


def is_docker_hub(server: str | None) -> bool:
    return server_key(server) == DOCKER_HUB_KEY


# --- the file -----------------------------------------------------------------------------


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The parsed config.json; ``{}`` when there is none."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise StorageError(f"cannot read {path}: {e.strerror or e}") from e
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path} is not a JSON object")
    return data


def save_config(data: dict[str, Any], path: Path | None = None) -> None:
    """Write ``data`` atomically with mode 0600; a symlinked config.json is followed."""
    path = Path(os.path.realpath(path or config_path()))
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=path.parent)
    except OSError as e:
        raise StorageError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(data, f, indent="\t")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise StorageError(f"cannot write {path}: {e.strerror or e}") from e


def _auths(data: dict[str, Any], path: Path) -> dict[str, Any]:
    auths = data.get("auths")
    if auths is None:
        auths = data["auths"] = {}
    if not isinstance(auths, dict):
        raise InvalidArgument(f"{path}: 'auths' is not a JSON object")
    return auths


def _matching_keys(auths: dict[str, Any], key: str) -> list[str]:
    """Keys of ``auths`` naming the same registry as ``key`` (docker also accepts URLs)."""
    first = [key] if key in auths else []
    want = hostname(key) if key != DOCKER_HUB_KEY else None
    others = []
    for candidate in auths:
        if candidate == key:
            continue
        if want is None:
            if server_key(candidate) == DOCKER_HUB_KEY:
                others.append(candidate)
        elif hostname(candidate) == want:
            others.append(candidate)
    return first + others


def _decode_entry(entry: object, path: Path) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    user, secret = "", ""
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            raw = base64.b64decode(encoded, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as e:
            raise InvalidArgument(
                f"{path}: an 'auth' value is not base64 user:pass"
            ) from e
        user, sep, secret = raw.partition(":")
        if not sep:
            raise InvalidArgument(f"{path}: an 'auth' value is not base64 user:pass")
    else:
        user = entry.get("username") or ""
        secret = entry.get("password") or ""
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return IDENTITY_TOKEN_USER, token
    if isinstance(user, str) and isinstance(secret, str) and (user or secret):
        return user, secret
    return None


# --- helpers (docker-credential-*) --------------------------------------------------------


def _helper_name(data: dict[str, Any], key: str) -> str | None:
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict):
        for candidate in (key, hostname(key)):
            name = helpers.get(candidate)
            if isinstance(name, str) and name:
                return name
        if key == DOCKER_HUB_KEY:
            for alias in _DOCKER_HUB_NAMES:
                name = helpers.get(alias)
                if isinstance(name, str) and name:
                    return name
    store = data.get("credsStore")
    return store if isinstance(store, str) and store else None


def _run_helper(name: str, action: str, stdin: str, config: Path) -> str:
    program = f"docker-credential-{name}"
    path = shutil.which(program)
    if path is None:
        raise NotFound(
            f"credential helper {program} not found on PATH",
            hint=f"Install it, or remove it from {config} (credsStore/credHelpers).",
        )
    try:
        done = subprocess.run(
            [path, action],
            input=stdin.encode(),
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StorageError(f"credential helper {program} {action} failed: {e}") from e
    out = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        message = out or done.stderr.decode("utf-8", "replace").strip()
        if _NOT_FOUND in message:
            raise _HelperNotFound(message)
        line = message.splitlines()[0] if message else f"exit status {done.returncode}"
        raise StorageError(f"credential helper {program} {action}: {line}")
    return out


class _HelperNotFound(NotFound):
    """The helper holds no credentials for that server."""


def _helper_get(name: str, key: str, path: Path) -> tuple[str, str] | None:
    try:
        out = _run_helper(name, "get", key, path)
    except _HelperNotFound:
        return None
    try:
        body = json.loads(out)
    except ValueError as e:
        raise StorageError(f"credential helper docker-credential-{name} sent bad JSON") from e
    if not isinstance(body, dict):
        raise StorageError(f"credential helper docker-credential-{name} sent no JSON object")
    user, secret = body.get("Username"), body.get("Secret")
    if not isinstance(user, str) or not isinstance(secret, str) or not (user or secret):
        return None
    return user, secret


# --- the API ------------------------------------------------------------------------------


def lookup(host: str, *, config_dir: Path | None = None) -> tuple[str, str] | None:
    """The (user, secret) stored for a registry, or None. ``host`` may be ``docker.io``,
    ``host:port``, or a URL. A user of ``<token>`` means the secret is an identity token."""
    path = config_path(config_dir)
    data = load_config(path)
    key = server_key(host)
    helper = _helper_name(data, key)
    if helper is not None:
        # As docker: a registry whose helper has nothing is not looked up in the file.
        return _helper_get(helper, key, path)
    auths = data.get("auths")
    if not isinstance(auths, dict):
        return None
    for candidate in _matching_keys(auths, key):
        found = _decode_entry(auths[candidate], path)
        if found is not None:
            return found
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the config's directory while the file is read and rewritten,
    so that two logins at once do not lose one another's entry. The directory itself is
    locked (flock works on directories): no lock file is left beside docker's files."""
    import fcntl

    directory = Path(os.path.realpath(path)).parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise StorageError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def store(host: str, user: str, secret: str, *, config_dir: Path | None = None) -> Path | None:
    """Save credentials for a registry. Returns the config file if the secret went into it
    (unencrypted, worth a warning), None if a credential helper keeps it."""
    path = config_path(config_dir)
    with _locked(path):
        return _store(path, host, user, secret)


def _store(path: Path, host: str, user: str, secret: str) -> Path | None:
    data = load_config(path)
    key = server_key(host)
    auths = _auths(data, path)
    helper = _helper_name(data, key)
    if helper is not None:
        payload = json.dumps({"ServerURL": key, "Username": user, "Secret": secret})
        _run_helper(helper, "store", payload, path)
        auths[key] = {}
        save_config(data, path)
        return None
    entry: dict[str, Any] = {}
    if user == IDENTITY_TOKEN_USER:
        entry["identitytoken"] = secret
    else:
        entry["auth"] = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    auths[key] = entry
    save_config(data, path)
    return path


def is_logged_in(host: str, *, config_dir: Path | None = None) -> bool:
    """True when the config names this registry in ``auths`` (docker's test before logout)."""
    data = load_config(config_path(config_dir))
    auths = data.get("auths")
    return isinstance(auths, dict) and bool(_matching_keys(auths, server_key(host)))


def erase(host: str, *, config_dir: Path | None = None) -> bool:
    """Forget the credentials of a registry: its ``auths`` entries (under any spelling), and
    the helper's copy. True if anything was removed."""
    path = config_path(config_dir)
    with _locked(path):
        return _erase(path, host)


def _erase(path: Path, host: str) -> bool:
    data = load_config(path)
    helper_error: LaminaError | None = None
    key = server_key(host)
    removed = False
    helper = _helper_name(data, key)
    if helper is not None:
        try:
            _run_helper(helper, "erase", key, path)
            removed = True
        except _HelperNotFound:
            removed = False  # the helper had nothing: the file may still name the registry
        except LaminaError as e:
            # The file's entries go anyway, and the helper's failure is told afterwards.
            helper_error = e
    auths = data.get("auths")
    if isinstance(auths, dict):
        keys = _matching_keys(auths, key)
        for candidate in keys:
            del auths[candidate]
        if keys:
            removed = True
            save_config(data, path)
    if helper_error is not None:
        raise helper_error
    return removed


__all__ = [
    "DOCKER_HUB_KEY",
    "IDENTITY_TOKEN_USER",
    "config_path",
    "erase",
    "hostname",
    "is_docker_hub",
    "is_logged_in",
    "load_config",
    "lookup",
    "save_config",
    "server_key",
    "store",
]
