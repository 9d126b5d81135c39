"""``lamina system service``: the API on a unix socket (or TCP with mutual TLS only).

The socket is the API's only guard and the API is root-equivalent (it runs containers as
the store's owner), as dockerd's is: it is made with mode 0600, or 0660 for a group the user
names, and a TCP listener is refused unless clients must show a certificate the given CA
signed (dockerd's ``--tlsverify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import grp
import os
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import InvalidArgument

if TYPE_CHECKING:
    from lamina.api.server import Api
    from lamina.engine import Engine


def default_socket() -> str:
    """unix:///run/lamina/lamina.sock as root, $XDG_RUNTIME_DIR/lamina/lamina.sock else."""
    if os.geteuid() == 0:
        return "unix:///run/lamina/lamina.sock"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return f"unix://{runtime_dir}/lamina/lamina.sock"


@dataclass(frozen=True)
class TLSFiles:
    ca: str | None
    cert: str | None
    key: str | None
    verify: bool


def make_api(engine: Engine) -> Api:
    from lamina.api import attach, build, containers, exec_, images, networks, system
    from lamina.api.server import Api
    from lamina.api.util import lamina_version

    api = Api(engine, server_header=f"lamina/{lamina_version()} (linux)")
    engine.store  # noqa: B018 - opened once here, not by two worker threads at once
    for module in (system, images, build, containers, attach, exec_, networks):
        module.register(api)
    from lamina.api import events

    events.register(api)
    return api


def _tls_context(tls: TLSFiles) -> ssl.SSLContext:
    if not tls.verify or not (tls.ca and tls.cert and tls.key):
        raise InvalidArgument("refusing to listen on tcp:// without TLS client verification: "
                              "give --tlsverify with --tlscacert, --tlscert and --tlskey "
                              "(the API is root-equivalent)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls.ca)
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"cannot load the TLS certificate {tls.cert}: {exc}") from None
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _unix_path(address: str) -> Path:
    path = address.removeprefix("unix://")
    if not path.startswith("/"):
        raise InvalidArgument(f"invalid socket address {address!r}: the path must be absolute")
    return Path(path)


def _claim(path: Path) -> None:
    """Remove a stale socket left by a service that died; refuse to take a live one's."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_socket():
        raise InvalidArgument(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            path.unlink(missing_ok=True)
            return
        raise
    finally:
        probe.close()
    raise InvalidArgument(f"another service is listening on {path}")


def _unix_socket(path: Path, group: str | None) -> socket.socket:
    gid = None
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid if not group.isdigit() else int(group)
        except KeyError:
            raise InvalidArgument(f"group {group!r} not found") from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    _claim(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # never visible with looser permissions, not even briefly
    try:
        sock.bind(str(path))
    finally:
        os.umask(previous)
    if gid is not None:
        os.chown(path, -1, gid)
        os.chmod(path, 0o660)
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(engine: Engine, address: str, *, idle: float = 0, group: str | None = None,
                tls: TLSFiles | None = None, ready: asyncio.Event | None = None) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api = make_api(engine)
    # What is loaded by now lives as long as the service: keep it out of the collector's
    # full passes, which otherwise walk it again and again (tens of ms, at random requests).
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="api-io"))
    path: Path | None = None
    if address.startswith("unix://") or address.startswith("/"):
        path = _unix_path(address if address.startswith("unix://") else "unix://" + address)
        sock = _unix_socket(path, group)
        server = await asyncio.start_unix_server(api.serve_connection, sock=sock,
                                                 limit=1 << 16)
    elif address.startswith("tcp://"):
        context = _tls_context(tls or TLSFiles(None, None, None, False))
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        if not port.isdigit():
            raise InvalidArgument(f"invalid address {address!r}: tcp://HOST:PORT")
        server = await asyncio.start_server(api.serve_connection, host or "127.0.0.1",
                                            int(port), ssl=context, limit=1 << 16)
    else:
        raise InvalidArgument(f"invalid address {address!r}: unix:///path or tcp://HOST:PORT")
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    print(f"API listening on {address}", file=sys.stderr, flush=True)
    try:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if idle and api.connections == 0 and \
                    time.monotonic() - api.last_activity >= idle:
                break
        server.close()
        api.close_connections()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5.0)
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
        api.executor.shutdown(wait=False, cancel_futures=True)


def run_service(engine: Engine, address: str, *, idle: float = 0, group: str | None = None,
                tls: TLSFiles | None = None) -> None:
    if address.startswith("tcp://"):
        _tls_context(tls or TLSFiles(None, None, None, False))  # refuse before anything else
    asyncio.run(serve(engine, address, idle=idle, group=group, tls=tls))
