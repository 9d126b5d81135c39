"""Settings: the only configuration the library reads.

The store root, the runtime's state root, the OCI runtime, docker's config directory (logins),
and the registry client's options and mirrors. The edge (the CLI, or a program using the
library) makes them once, from the environment, lamina's ``config.toml`` and its flags
(``Settings.from_env``), and passes them down: no module below reads the environment.

lamina's config file is ``$LAMINA_CONFIG``, else ``/etc/lamina/config.toml`` as root, else
``~/.config/lamina/config.toml``; it is read at most once, when something first needs it (a
command that needs none, ``images``, never opens it)::

    [containers]
    runtime = "crun"

    [registries]
    insecure = ["myregistry:5000"]
    mirrors = ["http://127.0.0.1:5000"]
    certs_dirs = ["/etc/lamina/certs.d"]

    [pull]
    max_concurrent_downloads = 3

(A plain class with slots, not a dataclass: ``run``'s quick path makes one, and must not pay
for importing dataclasses.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidArgument
from lamina.model.limits import LayerLimits

if TYPE_CHECKING:
    from lamina.remote.options import RemoteOptions


def default_root(environ: Mapping[str, str] | None = None) -> Path:
    """$LAMINA_ROOT, else /var/lib/lamina as root, else ~/.local/share/lamina."""
    env = os.environ if environ is None else environ
    if env.get("LAMINA_ROOT"):
        return Path(env["LAMINA_ROOT"])
    if os.geteuid() == 0:
        return Path("/var/lib/lamina")
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "lamina"


def default_state_root(environ: Mapping[str, str] | None = None) -> Path:
    """Where OCI runtimes keep lamina's containers' state: tmpfs, cleared at boot like the
    containers' processes. /run/lamina as root, else under $XDG_RUNTIME_DIR."""
    env = os.environ if environ is None else environ
    if os.geteuid() == 0:
        return Path("/run/lamina")
    return Path(env.get("XDG_RUNTIME_DIR") or f"/tmp/lamina-{os.geteuid()}") / "lamina"


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """lamina's own config file (see the module docstring). It may not exist."""
    env = os.environ if environ is None else environ
    if env.get("LAMINA_CONFIG"):
        return Path(env["LAMINA_CONFIG"])
    if os.geteuid() == 0:
        return Path("/etc/lamina/config.toml")
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "lamina" / "config.toml"


def docker_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """docker's client config directory (``config.json``: logins, credential helpers)."""
    env = os.environ if environ is None else environ
    return Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path.home() / ".docker"


class Settings:
    """What the library is told; see the module docstring."""

    __slots__ = ("_config", "_remote", "config_path", "docker_config", "root", "runtime",
                 "signatures", "source_date_epoch", "state_root")

    def __init__(self, root: Path | str, *, state_root: Path | str | None = None,
                 runtime: str | None = None, docker_config: Path | str | None = None,
                 config_path: Path | None = None,
                 config: Mapping[str, Any] | None = None,
                 remote: RemoteOptions | None = None,
                 source_date_epoch: str | None = None,
                 signatures: SignatureSettings | None = None) -> None:
        self.root = Path(root)
        self.state_root = Path(state_root) if state_root else default_state_root()
        self.runtime = runtime  # the flag's or $LAMINA_RUNTIME; else the config's
        self.docker_config = Path(docker_config) if docker_config else docker_config_dir()
        self.config_path = config_path  # None: no config file at all
        self._config = config
        self._remote = remote
        # $SOURCE_DATE_EPOCH: reproducible builds' timestamps (a build arg of that name wins)
        self.source_date_epoch = source_date_epoch
        # Image signatures: DOCKER_CONTENT_TRUST, where policy.json and registries.d are.
        self.signatures = signatures or SignatureSettings()

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None, *,
                 environ: Mapping[str, str] | None = None,
                 runtime: str | None = None) -> Settings:
        """The settings of a command: flags (``root``, ``runtime``) over the environment."""
        env = os.environ if environ is None else environ
        return cls(Path(root) if root else default_root(env),
                   state_root=default_state_root(env),
                   runtime=runtime or env.get("LAMINA_RUNTIME") or None,
                   docker_config=docker_config_dir(env),
                   config_path=config_file(env),
                   source_date_epoch=env.get("SOURCE_DATE_EPOCH") or None,
                   signatures=SignatureSettings.from_env(env))

    @property
    def config(self) -> Mapping[str, Any]:
        """lamina's config file, parsed (``{}`` when there is none); read once."""
        if self._config is None:
            self._config = _read_toml(self.config_path)
        return self._config

    @property
    def container_runtime(self) -> str | None:
        """The OCI runtime to use: the flag or $LAMINA_RUNTIME, else ``[containers] runtime``,
        else None (runc, else crun, whichever is on PATH)."""
        if self.runtime:
            return self.runtime
        value = self.config.get("containers", {}).get("runtime")
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"{self.config_path}: containers.runtime must be a string")
        return value

    @property
    def remote(self) -> RemoteOptions:
        """The registry client's options: ``[registries]`` and ``[pull]``, and the logins of
        docker's config directory."""
        if self._remote is None:
            from lamina.remote import credentials
            from lamina.remote.options import RemoteOptions

            directory = self.docker_config
            self._remote = RemoteOptions.from_mapping(
                self.config, where=str(self.config_path),
                credentials=lambda server: credentials.lookup(server, config_dir=directory))
        return self._remote

    @property
    def layer_limits(self) -> LayerLimits:
        """How far a layer may expand when unpacked: ``[layers]`` (the defaults where absent)."""
        table = self.config.get("layers", {})
        if not isinstance(table, dict):
            raise InvalidArgument(f"{self.config_path}: [layers] is not a table")
        return LayerLimits.from_table(table)


def _read_toml(path: Path | None) -> Mapping[str, Any]:
    if path is None or not path.exists():
        return {}  # the common case: no config, and no TOML parser to load
    import tomllib

    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidArgument(f"cannot read lamina's config {path}: {err}") from err


class SignatureSettings:
    """What image signatures read of the surroundings: whether content trust is on
    (``DOCKER_CONTENT_TRUST``, as docker reads it: set and not a false word), the
    containers-policy.json files to try in turn, the registries.d directory, and a signing
    key's passphrase from ``$LAMINA_PASSPHRASE`` or ``$COSIGN_PASSWORD``."""

    __slots__ = ("content_trust", "passphrase", "policy_paths", "registries_d")

    FALSE_WORDS = ("0", "f", "F", "FALSE", "false", "False")

    def __init__(self, *, content_trust: bool = False,
                 policy_paths: tuple[Path, ...] = (),
                 registries_d: Path | None = None, passphrase: bytes | None = None) -> None:
        self.content_trust = content_trust
        self.policy_paths = policy_paths
        self.registries_d = registries_d
        self.passphrase = passphrase

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SignatureSettings:
        home = Path(env["HOME"]) if env.get("HOME") else Path.home()
        trust = env.get("DOCKER_CONTENT_TRUST", "")
        user_d = home / ".config/containers/registries.d"
        if env.get("LAMINA_REGISTRIES_D"):
            registries_d = Path(env["LAMINA_REGISTRIES_D"])
        else:  # the user's directory if there is one, else the system's (containers/image's)
            registries_d = user_d if user_d.is_dir() else Path("/etc/containers/registries.d")
        secret = env.get("LAMINA_PASSPHRASE", env.get("COSIGN_PASSWORD"))
        return cls(content_trust=trust != "" and trust not in cls.FALSE_WORDS,
                   policy_paths=(home / ".config/containers/policy.json",
                                 Path("/etc/containers/policy.json")),
                   registries_d=registries_d,
                   passphrase=secret.encode() if secret is not None else None)
