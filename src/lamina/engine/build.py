"""``build``: an image from a Dockerfile and a context (``lamina.build`` does the work).

The engine's part: the context (a directory, or a tar or a lone Dockerfile on stdin), the
Dockerfile's text, base images (from the store, pulled when missing or with ``--pull`` if
lamina can pull), and the tags of the result.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TextIO, cast

from lamina.errors import InvalidArgument, LaminaError, NotFound
from lamina.model.digest import Digest
from lamina.model.platform import Platform
from lamina.model.reference import Reference, tag_target

if TYPE_CHECKING:
    from lamina.engine import Engine
    from lamina.remote.options import RemoteOptions
    from lamina.store import ImageRecord, Store


@dataclass
class BuildRequest:
    context: str  # a directory, or "-" for stdin
    dockerfile: str | None = None  # -f; "-" for stdin
    tags: Sequence[str] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = "host"
    platform: str | None = None
    add_hosts: Sequence[str] = ()  # host:ip
    cache_from: Sequence[str] = ()  # images
    ulimits: Sequence[str] = ()  # name=soft[:hard]
    shm_size: str | None = None


@dataclass
class BuildResult:
    image_id: Digest
    tags: list[Reference]


def build_image(engine: Engine, request: BuildRequest, *, out: TextIO,
                stdin: IO[bytes] | None = None,
                remote_options: RemoteOptions | None = None) -> BuildResult:
    """``remote_options``: for pulling the base images (the API service's, with the
    credentials its client sent); the engine's own otherwise."""
    from lamina.build.builder import Builder, BuildOptions

    tags = [tag_target(t) for t in request.tags]
    if request.network not in ("host", "none", "default"):
        raise InvalidArgument(f"network mode {request.network!r} is not supported by lamina "
                              "build (host or none)")
    store = engine.store
    args = dict(request.build_args)
    sde_text = args.get("SOURCE_DATE_EPOCH") or engine.settings.source_date_epoch
    try:
        sde = int(sde_text) if sde_text else None
    except ValueError:
        raise InvalidArgument(f"invalid SOURCE_DATE_EPOCH: {sde_text!r}") from None
    options = BuildOptions(build_args=args, target=request.target, no_cache=request.no_cache,
                           pull=request.pull, labels=dict(request.labels),
                           network="host" if request.network == "default" else request.network,
                           source_date_epoch=sde, runtime=engine.settings.container_runtime,
                           state_root=engine.settings.state_root,
                           **_step_options(store, request))
    with store.adding(), store.scratch.directory("context") as tmp:
        root, text, dockerfile = _context(request, stdin, tmp)
        from lamina.build.context import BuildContext

        builder = Builder(store, BuildContext.directory(root, dockerfile), options,
                          lambda name, platform, pull: _base_image(engine, name, platform, pull,
                                                                   out, remote_options),
                          out)
        image_id = builder.build(text)
        # Tagged inside the block: the images it made, and the bases it found, are held until
        # then (lamina.store.holds), so another process's prune cannot take them half-way.
        for ref in tags:
            store.tag(image_id, ref)
    return BuildResult(image_id, tags)


def _step_options(store: Store, request: BuildRequest) -> dict[str, Any]:
    """--platform, --add-host, --ulimit, --shm-size and --cache-from, checked as docker does."""
    from lamina.engine.hostconfig import ulimit

    if request.platform:
        Platform.parse(request.platform)  # a bad one fails here
    hosts = []
    for text in request.add_hosts:
        host, sep, address = text.partition(":")
        if not host or not sep or not address:
            raise InvalidArgument(f'invalid argument "{text}" for "--add-host" flag: bad format '
                                  f"for add-host: {text!r}")
        if address == "host-gateway":
            address = "127.0.0.1"  # the host's network is the steps' own
        import ipaddress

        try:
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            raise InvalidArgument(f'invalid argument "{text}" for "--add-host" flag: invalid '
                                  f"IP address in add-host: {address!r}") from None
        hosts.append((host, address.strip("[]")))
    limits = [ulimit(text) for text in request.ulimits]
    shm = None
    if request.shm_size:
        from lamina.model.units import parse_bytes

        shm = parse_bytes(request.shm_size)
        if shm <= 0:
            raise InvalidArgument(f"invalid size: '{request.shm_size}'")
    cache_from = []
    for name in request.cache_from:
        try:
            cache_from.append(store.resolve(name).id)
        except NotFound:
            continue  # docker: a cache source that is not there is no cache
    return {"platform": request.platform, "extra_hosts": tuple(hosts),
            "ulimits": tuple((u["Name"], u["Soft"], u["Hard"]) for u in limits),
            "shm_size": shm, "cache_from": tuple(cache_from)}


def _context(request: BuildRequest, stdin: IO[bytes] | None, tmp: Path
             ) -> tuple[Path, str, Path | None]:
    """The context directory, the Dockerfile's text and its path (None: from stdin)."""
    if request.context == "-":
        if stdin is None:
            raise InvalidArgument("no context on stdin")
        root = tmp / "context"
        os.mkdir(root, 0o755)
        received = tmp / "stdin"
        with open(received, "wb") as f:
            shutil.copyfileobj(stdin, f, 1 << 20)
        if _unpack_context(received, root):
            return (root, *_dockerfile_in_context(root, request.dockerfile))
        if request.dockerfile not in (None, "-"):
            raise InvalidArgument("a Dockerfile on stdin leaves no context for -f")
        return root, received.read_text(encoding="utf-8", errors="surrogateescape"), None
    root = Path(request.context)
    if not root.is_dir():
        raise NotFound(f'unable to prepare context: path "{request.context}" not found')
    if request.dockerfile == "-":
        if stdin is None:
            raise InvalidArgument("no Dockerfile on stdin")
        return root, stdin.read().decode("utf-8", "surrogateescape"), None
    return (root, *_read_dockerfile(root, request.dockerfile))


def _read_dockerfile(root: Path, name: str | None) -> tuple[str, Path]:
    if name is not None:
        path = Path(name)
        if not path.is_absolute() and not path.exists():
            path = root / name  # not found from here: try the context, as docker does
        candidates = [path]
    else:
        candidates = [root / "Dockerfile", root / "dockerfile"]
    for path in candidates:
        try:
            return path.read_text(encoding="utf-8", errors="surrogateescape"), path
        except (FileNotFoundError, IsADirectoryError):
            continue
    shown = name or str(root / "Dockerfile")
    raise NotFound(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                   f"lstat {shown}: no such file or directory")


def _dockerfile_in_context(root: Path, name: str | None) -> tuple[str, Path]:
    """The Dockerfile of a context that came as a tar: ``name`` is a path inside it (as docker
    reads -f with a context on stdin), resolved there, whatever its symlinks say: a hostile
    tar's Dockerfile -> /etc/shadow names the context's own /etc/shadow, which is missing."""
    from lamina.runtime.rootpath import RootFS

    candidates = [name] if name else ["Dockerfile", "dockerfile"]
    for candidate in candidates:
        try:
            inside = RootFS(root).resolve(candidate)
        except LaminaError:
            continue
        path = root / inside.lstrip("/")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, OSError):
            continue
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                continue
            return f.read().decode("utf-8", "surrogateescape"), path
    shown = name or "Dockerfile"
    raise NotFound(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                   f"lstat {shown}: no such file or directory")


def _unpack_context(archive: Path, root: Path) -> bool:
    """Unpack a context tar (plain, gzip, bzip2, xz, zstd) into ``root``; False if it is not
    one (then it is a Dockerfile)."""
    from lamina.build.filesystem import is_tar, open_archive
    from lamina.store.extract import extract_layer

    with open_archive(os.open(archive, os.O_RDONLY | os.O_CLOEXEC)) as probe:
        if not is_tar(probe):
            return False
    with open_archive(os.open(archive, os.O_RDONLY | os.O_CLOEXEC)) as stream:
        extract_layer(cast(BinaryIO, stream), root, whiteouts="apply")
    return True


def _base_image(engine: Engine, name: str, platform: str | None, pull: bool,
                out: TextIO, options: RemoteOptions | None = None) -> Digest:
    """A base image's ID: from the store, else (or always, with --pull) pulled."""
    store: Store = engine.store
    with store.holding() as hold:  # (the build's: the base is kept until the build ends)
        if not pull:
            try:
                record = hold.resolve(name)
            except NotFound:
                record = None
            if record is not None and (platform is None or _matches(record, platform)):
                return record.id
        out.write(f"pulling {name}" + (f" ({platform})" if platform else "") + "\n")
        out.flush()
        recorded = len(hold.recorded)
        engine.pull(name, platform=platform, options=options)
        if len(hold.recorded) > recorded:  # held since the pull recorded it
            return hold.recorded[-1].id
        return hold.resolve(name).id


def _matches(record: ImageRecord, platform: str) -> bool:
    """Whether a stored image is of the platform FROM --platform asks for."""
    wanted = Platform.parse(platform)
    if not record.os or not record.architecture:
        return True  # an image that does not say: take it as it is
    return wanted.matches(Platform(record.os, record.architecture, record.variant))
