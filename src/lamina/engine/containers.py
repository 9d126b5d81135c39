"""The container verbs: create, start, stop, kill, restart, rm, wait, prune.

A container is created as docker does: its ``Config`` is the image's config with the command
line's overrides applied (Entrypoint/Cmd, Env, WorkingDir, User, Labels...), its ``HostConfig``
the host-side options. Starting it goes through ``lamina.runtime.monitor``; the monitor keeps
the record current, so these functions read the store and never guess a state.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from lamina.engine.events import record_container
from lamina.engine.names import generate_name, validate_name
from lamina.engine.settings import Settings
from lamina.errors import ContainerError, InvalidArgument, LaminaError, NotFound
from lamina.store import ContainerRecord, Store


class CreateOptions(NamedTuple):
    """docker create/run's flags, as the engine takes them."""

    name: str | None = None
    env: Sequence[str] = ()
    env_files: Sequence[str] = ()
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | list[str] | None = None  # a list: the API's exec form
    volumes: Sequence[str] = ()
    network: str = "host"
    hostname: str | None = None
    memory: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    read_only: bool = False
    cap_add: Sequence[str] = ()
    cap_drop: Sequence[str] = ()
    labels: Sequence[str] = ()
    tty: bool = False
    interactive: bool = False
    autoremove: bool = False
    runtime: str | None = None
    detach: bool = False
    security_opt: Sequence[str] = ()
    privileged: bool = False
    group_add: Sequence[str] = ()


def create(store: Store, image_name: str, command: Sequence[str], opts: CreateOptions
           ) -> ContainerRecord:
    """Record a new container of ``image_name`` and make its directory (nothing runs)."""
    from lamina.model.config import ImageConfig
    from lamina.runtime.bundle import ContainerDir, parse_bind
    from lamina.runtime.spec import capabilities

    if opts.network not in ("none", "host"):
        raise InvalidArgument(f"network {opts.network} not found (lamina has none and host)")
    for bind in opts.volumes:
        parse_bind(bind)
    if opts.workdir and not opts.workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{opts.workdir}' is invalid, it needs to "
                              "be an absolute path")
    capabilities(opts.cap_add, opts.cap_drop)  # unknown capabilities fail here
    from lamina.runtime.security import check_security_opts

    security_opt = check_security_opts(opts.security_opt)  # a profile file is read here
    image = store.resolve(image_name)
    image_config = ImageConfig.parse(store.blobs.read(image.id)).config
    name = validate_name(opts.name) if opts.name else None
    config = container_config(image_config, image_name, command, opts)
    container_id = os.urandom(32).hex()  # (secrets.token_hex, without importing secrets)
    if not config["Hostname"]:
        config["Hostname"] = os.uname().nodename if opts.network == "host" else container_id[:12]
    path, args = process_args(config)
    if not path:
        raise ContainerError("no command specified", exit_code=125)
    host_config = {
        "Binds": list(opts.volumes) or None,
        "NetworkMode": opts.network,
        "AutoRemove": opts.autoremove,
        "Memory": opts.memory or 0,
        "NanoCpus": int(opts.cpus * 1e9) if opts.cpus else 0,
        "PidsLimit": opts.pids_limit,
        "ReadonlyRootfs": opts.read_only,
        "CapAdd": list(opts.cap_add) or None,
        "CapDrop": list(opts.cap_drop) or None,
        "Runtime": opts.runtime,
        "SecurityOpt": security_opt or None,
        "Privileged": opts.privileged,
        "GroupAdd": list(opts.group_add) or None,
    }
    record = ContainerRecord(
        id=container_id, name=name or generate_name(store.containers.names()),
        image_id=str(image.id), image_name=image_name, created=time.time(),
        config={"Config": config, "HostConfig": host_config, "Path": path, "Args": args},
    )
    cdir = ContainerDir.of(store, container_id)
    cdir.create()
    try:
        store.containers.add(record)
    except BaseException:
        cdir.remove()
        raise
    record_container(store, record, "create")
    return record


def container_config(image: dict[str, Any], image_name: str, command: Sequence[str],
                     opts: CreateOptions) -> dict[str, Any]:
    """docker's merge of the image's config with the command line's."""
    env = list(image.get("Env") or [])
    for entry in [*read_env_files(opts.env_files), *opts.env]:
        key, sep, value = entry.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable: {entry}")
        if not sep:
            if key not in os.environ:
                continue  # docker: "-e NAME" passes NAME only when it is set here
            entry = f"{key}={os.environ[key]}"
        env = [e for e in env if e.partition("=")[0] != key] + [entry]
    entrypoint = image.get("Entrypoint")
    cmd = image.get("Cmd")
    if opts.entrypoint is not None:
        if isinstance(opts.entrypoint, list):
            entrypoint = list(opts.entrypoint) or None
        else:
            entrypoint = [opts.entrypoint] if opts.entrypoint else None
        cmd = None  # docker drops the image's Cmd when the entrypoint is overridden
    if command:
        cmd = list(command)
    labels = dict(image.get("Labels") or {})
    for label in opts.labels:
        key, _, value = label.partition("=")
        labels[key] = value
    config: dict[str, Any] = {
        "Hostname": opts.hostname or "",
        "Domainname": "",
        "User": opts.user if opts.user is not None else (image.get("User") or ""),
        "AttachStdin": opts.interactive and not opts.detach,
        "AttachStdout": not opts.detach,
        "AttachStderr": not opts.detach,
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": opts.interactive and not opts.detach,
        "Env": env,
        "Cmd": cmd,
        "Image": image_name,
        "Volumes": image.get("Volumes"),
        "WorkingDir": opts.workdir if opts.workdir is not None else (image.get("WorkingDir") or ""),
        "Entrypoint": entrypoint,
        "OnBuild": image.get("OnBuild"),
        "Labels": labels,
    }
    for key in ("ExposedPorts", "StopSignal", "Healthcheck"):
        if image.get(key):
            config[key] = image[key]
    return config


def process_args(config: dict[str, Any]) -> tuple[str, list[str]]:
    argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    return (argv[0], argv[1:]) if argv else ("", [])


def read_env_files(paths: Sequence[str]) -> list[str]:
    entries: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {exc.strerror}") from None
        for line in text.splitlines():
            line = line.lstrip()
            if line and not line.startswith("#"):
                entries.append(line)
    return entries


# ----------------------------------------------------------------------------- state


def lock_path(store: Store, container_id: str) -> Path:
    return store.containers_dir / container_id / "monitor.lock"


def monitor_alive(store: Store, container_id: str) -> bool:
    from lamina.runtime.state import monitor_alive as alive

    return alive(store, container_id)


def refresh(store: Store, record: ContainerRecord) -> ContainerRecord | None:
    """A "running" container whose monitor has finished gets its exit recorded (or, with
    --rm, is removed: None)."""
    if record.state != "running":
        return record
    from lamina.engine.exits import sync

    return sync(store, record)


def find(store: Store, text: str) -> ContainerRecord:
    record = refresh(store, store.containers.find(text))
    if record is None:
        raise NotFound(f"No such container: {text}")
    return record


def listing(store: Store) -> list[ContainerRecord]:
    records = (refresh(store, r) for r in store.containers.all())
    return [r for r in records if r is not None]


def runtime_for(record: ContainerRecord, override: str | None = None, *,
                store: Store | None = None, settings: Settings | None = None) -> Any:
    """The OCI runtime of a container: the one that started it (noted in its directory),
    else --runtime, else the container's, else the settings' (flag, environment, config),
    else runc or crun. ``settings``: the engine's (None: the environment's, for callers of
    these functions that have none)."""
    from lamina.runtime.oci import Runtime

    if store is not None and override is None:
        started = Runtime.of(store.containers_dir / record.id)
        if started is not None:
            return started
    if settings is None:
        settings = Settings.from_env(store.root if store is not None else None)
    chosen = override or record.config.get("HostConfig", {}).get("Runtime")
    return Runtime(chosen or settings.container_runtime, settings.state_root)


def wait_exit(store: Store, container_id: str, timeout: float | None = None) -> int | None:
    """Wait for the container's monitor to finish; its exit code (None on timeout)."""
    try:
        fd = os.open(lock_path(store, container_id), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return _recorded_exit(store, container_id)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        else:
            deadline = time.monotonic() + timeout
            # An attached run waits here for a monitor that is already on its way out:
            # look again soon, then back off.
            delay = 0.0002
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
        data = os.pread(fd, 64, 0)
    finally:
        os.close(fd)
    from lamina.runtime.state import read_exit

    note = read_exit(data)
    if note is not None:
        return note[0]  # the monitor leaves it there, even for a container it removed
    return _recorded_exit(store, container_id)


def _recorded_exit(store: Store, container_id: str) -> int:
    record = store.containers.get(container_id)
    if record is None:
        raise NotFound(f"No such container: {container_id}")
    record = refresh(store, record) or record
    return record.exit_code if record.exit_code is not None else 0


def stop(store: Store, text: str, *, timeout: float | None = None,
         signal_name: str | None = None) -> ContainerRecord:
    """SIGTERM (or the image's StopSignal), then SIGKILL after ``timeout`` (default 10 s)."""
    record = find(store, text)
    if record.state != "running":
        return record
    runtime = runtime_for(record, store=store)
    stop_signal = signal_name or record.config.get("Config", {}).get("StopSignal") or "SIGTERM"
    runtime.kill(record.id, _signal_arg(stop_signal))
    _thaw(record, runtime)
    if wait_exit(store, record.id, 10.0 if timeout is None else timeout) is None:
        _force_stop(store, record, runtime)
    return record


def _thaw(record: ContainerRecord, runtime: Any) -> None:
    """A paused container's processes take the signal just sent only once thawed."""
    from lamina.runtime.cgroups import frozen

    if frozen(record.id):
        with suppress(ContainerError):
            runtime.resume(record.id)


def _force_stop(store: Store, record: ContainerRecord, runtime: Any) -> None:
    """SIGKILL; failing that, every process of its cgroup; failing that, say so."""
    runtime.kill(record.id, "9")
    _thaw(record, runtime)
    if wait_exit(store, record.id, 10.0) is None:
        runtime.delete(record.id, force=True)
        if wait_exit(store, record.id, 10.0) is None:
            raise ContainerError(f"container {record.id[:12]} did not stop", exit_code=1)


def kill(store: Store, text: str, signal_name: str = "KILL") -> ContainerRecord:
    record = find(store, text)
    if record.state != "running":
        raise ContainerError(f"cannot kill container: {record.id}: container {record.id} "
                             "is not running", exit_code=1)
    runtime = runtime_for(record, store=store)
    signal = _signal_arg(signal_name)
    if not runtime.kill(record.id, signal):
        raise ContainerError(f"cannot kill container {text}", exit_code=1)
    if signal == "9":
        _thaw(record, runtime)  # (other signals wait, pending, for the unpause)
    return record


def rename(store: Store, text: str, new_name: str) -> ContainerRecord:
    record = find(store, text)
    name = validate_name(new_name)
    if name == record.name:
        raise InvalidArgument("Renaming a container with the same name as its current name")
    store.containers.rename(record.id, name)
    return record


def _signal_arg(name: str | int) -> str:
    from lamina.runtime.oci import signal_number

    return str(signal_number(name))


def remove(store: Store, text: str, *, force: bool = False) -> ContainerRecord:
    from lamina.runtime.bundle import ContainerDir

    record = find(store, text)
    if record.state == "running":
        if not force:
            raise ContainerError(
                f"cannot remove container \"/{record.name}\": container is running: stop the "
                "container before removing or force remove", exit_code=1)
        _force_stop(store, record, runtime_for(record, store=store))
        record = store.containers.get(record.id) or record
    if store.containers.get(record.id) is None:
        return record  # it was --rm: its monitor removed it
    store.containers.update(record.id, state="removing")
    ContainerDir.of(store, record.id).remove()
    store.containers.delete(record.id)
    record_container(store, record, "destroy")
    return record


PRUNE_FILTERS = ("until", "label", "label!")


def prune(store: Store, filters: Sequence[str] = ()) -> tuple[list[str], int]:
    """Remove every stopped container the filters select (``until``, ``label``, ``label!``, as
    docker's); return their IDs and the bytes reclaimed."""
    from lamina.engine.filters import match_prune_labels, parse_filters, prune_until
    from lamina.store.snapshots import disk_usage

    wanted = parse_filters(filters, PRUNE_FILTERS)  # bad filters fail before anything goes
    until = prune_until(wanted.get("until"))
    removed: list[str] = []
    reclaimed = 0
    for record in listing(store):
        if record.state not in ("exited", "created"):
            continue
        if until is not None and record.created > until:
            continue
        labels = record.config.get("Config", {}).get("Labels") or {}
        if not match_prune_labels(wanted, labels):
            continue
        upper = store.containers_dir / record.id / "upper"
        with suppress(OSError):
            reclaimed += disk_usage(upper)
        try:
            remove(store, record.id)
        except LaminaError:
            continue
        removed.append(record.id)
    return removed, reclaimed
