"""Run the registry: settings from a TOML file and flags, then uvicorn (uvloop, httptools).

Each worker builds its own app through ``app_factory``, from settings handed down in the
environment as JSON, because the server keeps nothing in memory that a sibling would need: any
worker, or any replica sharing the database and blob store, serves any request.

On SIGTERM uvicorn stops accepting connections, lets the requests in flight finish (up to
``shutdown_grace_seconds``), runs the app's shutdown and exits 0.

The TOML file holds the fields of ``RegistryConfig`` at the top level and those of
``AuthConfig``, ``MetadataConfig`` and ``StorageConfig`` under ``[auth]``, ``[metadata]`` and
``[storage]``, with ``[[auth.access]]`` rules; relative paths are relative to the file::

    root = "/srv/registry"
    addr = "0.0.0.0:5000"
    workers = 2
    [metadata]
    kind = "postgres"
    dsn = "host=db.internal dbname=registry user=registry"
    [storage]
    driver = "s3"
    endpoint = "http://s3.internal:8333"
    bucket = "registry"
    [auth]
    kind = "token"
    htpasswd = "htpasswd"
    anonymous_pull = true
    [[auth.access]]
    account = "alice"
    name = "team/**"
    actions = ["pull", "push", "delete"]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import tomllib
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidArgument
from lamina.registry.config import ENV_PREFIX, SECTIONS, RegistryConfig, env_settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger(__name__)

CONFIG_ENV = "LAMINA_REGISTRY_CONFIG_JSON"
DEFAULT_ADDR = "127.0.0.1:5000"


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(owner: str, name: str, hint: Any, value: Any, base: Path | None) -> Any:
    """Check one TOML value against the dataclass field's type; resolve relative paths."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    optional = origin in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    where = f"{owner}{name}"
    if hint is Path:
        if not isinstance(value, str | Path) or not str(value):
            raise InvalidArgument(f"config: {where} must be a path")
        path = Path(value).expanduser()
        return base / path if base is not None and not path.is_absolute() else path
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidArgument(f"config: {where} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"config: {where} must be an integer")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise InvalidArgument(f"config: {where} must be a string")
        return value
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidArgument(f"config: {where} must be a list of tables")
        return [dict(v) for v in value]
    raise InvalidArgument(f"config: {where} has a type lamina cannot read")


def _fill(obj: Any, data: dict[str, Any], base: Path | None, owner: str = "") -> None:
    hints = _field_types(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in data.items():
        if key not in names:
            raise InvalidArgument(f"config: unknown setting '{owner}{key}'")
        if key == "trust" and not owner:
            from lamina.trust.serving import TrustConfig

            if not isinstance(value, dict):
                raise InvalidArgument("config: [trust] must be a table")
            # A later source (the environment) overrides only the settings it names.
            current = {"repositories": obj.trust.repositories,
                       "keys": [str(k) for k in obj.trust.keys]}
            obj.trust = TrustConfig.from_mapping({**current, **value}, base)
            continue
        if key in SECTIONS and not owner:
            if not isinstance(value, dict):
                raise InvalidArgument(f"config: [{key}] must be a table")
            _fill(getattr(obj, key), value, base, f"{key}.")
            continue
        setattr(obj, key, _coerce(owner, key, hints[key], value, base))


def config_from_mapping(data: dict[str, Any], base: Path | None = None) -> RegistryConfig:
    config = RegistryConfig()
    _fill(config, data, base)
    return config


def load_config(path: Path | None) -> RegistryConfig:
    """Settings from a TOML file (or the defaults if ``path`` is None)."""
    if path is None:
        return RegistryConfig()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise InvalidArgument(f"cannot read config file {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"config file {path} is not valid TOML: {e}") from e
    return config_from_mapping(data, Path(path).resolve().parent)


def _from_text(name: str, hint: Any, text: str) -> Any:
    """An environment variable's text as the value of a field of type ``hint``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        lowered = text.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise InvalidArgument(f"environment: {name} must be true or false, not {text!r}")
        return lowered in ("1", "true", "yes", "on")
    if hint is int:
        if not text.strip().lstrip("-").isdigit():
            raise InvalidArgument(f"environment: {name} must be an integer, not {text!r}")
        return int(text)
    if typing.get_origin(hint) is list:
        try:
            return json.loads(text)
        except ValueError:
            raise InvalidArgument(f"environment: {name} must be a JSON list") from None
    return text


def apply_env(
    config: RegistryConfig, environ: typing.Mapping[str, str] | None = None
) -> RegistryConfig:
    """Settings given as ``LAMINA_REGISTRY_<NAME>`` or ``LAMINA_REGISTRY_<SECTION>_<NAME>``
    override the file, so that a replica can run with no config file at all."""
    environ = os.environ if environ is None else environ
    known = dict(env_settings())
    data: dict[str, Any] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        setting = known.get(name.upper())
        if setting is None:
            raise InvalidArgument(f"environment: unknown setting {name}")
        section, _, field_name = setting.rpartition(".")
        owner = getattr(config, section) if section else config
        value = _from_text(name, _field_types(type(owner))[field_name], text)
        (data.setdefault(section, {}) if section else data)[field_name] = value
    _fill(config, data, Path.cwd())
    return config


def apply_flags(config: RegistryConfig, **flags: Any) -> RegistryConfig:
    """Flags given on the command line (not None) override the file."""
    for key, value in flags.items():
        if value is None:
            continue
        if not hasattr(config, key):
            raise InvalidArgument(f"unknown setting {key!r}")
        setattr(config, key, Path(value) if key in ("root", "tls_cert", "tls_key") else value)
    return config


def validate(config: RegistryConfig) -> None:
    parse_addr(config.addr)
    if config.workers < 1:
        raise InvalidArgument(f"--workers must be at least 1, not {config.workers}")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise InvalidArgument("TLS needs both a certificate and a key (--tls-cert, --tls-key)")
    from lamina.registry.auth import KINDS

    if config.auth.kind not in KINDS:
        raise InvalidArgument(f"unknown auth kind {config.auth.kind!r}: one of {', '.join(KINDS)}")
    if config.auth.kind in ("htpasswd",) and config.auth.htpasswd is None:
        raise InvalidArgument("auth kind htpasswd needs auth.htpasswd, the path of the file")
    from lamina.registry.backends import validate_backends

    validate_backends(config)


def parse_addr(addr: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"invalid address {addr!r}: expected HOST:PORT")
    host = host.strip("[]") if host.startswith("[") else host
    return host or "0.0.0.0", int(port)


def config_to_json(config: RegistryConfig) -> str:
    def default(o: object) -> str:
        if isinstance(o, Path):
            return str(o)
        raise TypeError(type(o).__name__)

    return json.dumps(dataclasses.asdict(config), default=default)


def config_from_json(text: str) -> RegistryConfig:
    return config_from_mapping(json.loads(text))


def build_app(config: RegistryConfig) -> Starlette:
    """The whole registry app: core handlers, the auth of the config, metrics and access log."""
    from starlette.middleware import Middleware

    from lamina.registry.app import create_app
    from lamina.registry.auth import build_auth
    from lamina.registry.metrics import MetricsMiddleware, shared_metrics

    authorizer, routes = build_auth(config)
    middleware = [
        Middleware(
            MetricsMiddleware,
            log_requests=config.log_requests,
            metrics=shared_metrics(),
        )
    ]
    return create_app(config, authorizer=authorizer, extra_routes=routes, middleware=middleware)


def app_factory() -> Starlette:
    """What each uvicorn worker calls: the settings come from the parent in the environment."""
    text = os.environ.get(CONFIG_ENV)
    config = config_from_json(text) if text else RegistryConfig()
    # Idempotent; for a server started by other means than serve() (uvicorn --factory).
    setup_logging()
    return build_app(config)


def setup_logging(level: int = logging.INFO) -> None:
    """Access-log lines go to stdout as they are (JSON); everything else to stderr."""
    access = logging.getLogger("lamina.registry.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    root = logging.getLogger("lamina")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)


def prepare(config: RegistryConfig) -> None:
    """What must exist before workers start: the root, the database schema (migrated once
    here), reachable backends (one clear line if not), and the token key (made once here so
    that workers read one key rather than race to make several)."""
    from lamina.registry.backends import check_backends

    Path(config.root).mkdir(parents=True, exist_ok=True)
    check_backends(config)
    if config.auth.kind == "token" and not config.auth.token_key_pem:
        from lamina.registry.auth import token_key_path
        from lamina.registry.auth.token import load_or_create_key

        load_or_create_key(token_key_path(config))


def _note_signal(signum: int, frame: types.FrameType | None) -> None:
    log.info("registry: stopped by signal %d", signum)


def _preload(config: RegistryConfig) -> None:
    """Import in the parent what every forked worker needs, so that none imports it again."""
    import uvicorn.lifespan.on
    import uvicorn.protocols.http.httptools_impl  # noqa: F401
    import uvloop  # noqa: F401

    import lamina.registry.app
    import lamina.registry.metrics

    if config.auth.kind != "none":
        import lamina.registry.auth.authorizers
    if config.auth.kind == "token":
        import lamina.registry.auth.token_server  # noqa: F401


def serve(
    config: RegistryConfig, *, shutdown_grace_seconds: int = 30, prepared: bool = False
) -> int:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight. Blocks; returns the
    exit status (not 0 only if workers kept dying)."""
    import uvicorn

    validate(config)
    if not prepared:
        prepare(config)
    host, port = parse_addr(config.addr)
    os.environ[CONFIG_ENV] = config_to_json(config)
    setup_logging()
    uv_config = uvicorn.Config(
        app_factory,
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="auto",
        ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
        ssl_keyfile=str(config.tls_key) if config.tls_key else None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        backlog=4096,
        timeout_graceful_shutdown=shutdown_grace_seconds,
        log_level="warning",
        log_config=None,
    )
    if config.workers == 1:
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again
        # against the handler it found at start. A handler of ours makes that a no-op, so a
        # requested, clean shutdown exits 0 instead of dying by the signal.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _note_signal)
        uvicorn.Server(uv_config).run()
        return 0

    from lamina.registry.metrics import shared_buffer, use_shared
    from lamina.registry.workers import Supervisor

    sock = uv_config.bind_socket()
    _preload(config)
    counters = shared_buffer(config.workers)

    def child(sock: socket.socket, slot: int) -> None:
        use_shared(counters, slot)
        uvicorn.Server(uv_config).run(sockets=[sock])

    return Supervisor(sock, config.workers, child).run()
