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
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from lamina.engine.events import record_container
from lamina.engine.names import generate_name, validate_name
from lamina.engine.settings import Settings
from lamina.errors import ContainerError, InvalidArgument, LaminaError, NotFound, UsageError
from lamina.store import ContainerRecord, ImageRecord, Store


class CreateOptions(NamedTuple):
    """docker create/run's flags, as the engine takes them."""

    name: str | None = None
    env: Sequence[str] = ()
    env_files: Sequence[str] = ()
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | list[str] | None = None  # a list: the API's exec form
    volumes: Sequence[str] = ()
    network: str = "bridge"
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
    publish: Sequence[str] = ()
    publish_all: bool = False
    expose: Sequence[str] = ()
    ip: str | None = None
    add_host: Sequence[str] = ()
    dns: Sequence[str] = ()
    dns_search: Sequence[str] = ()
    dns_option: Sequence[str] = ()
    network_alias: Sequence[str] = ()
    mac_address: str | None = None
    # The other flags, as the docker HostConfig and Config entries they set (restart policy,
    # health check, ulimits, mounts, devices, namespaces, limits, log config...); see
    # lamina.engine.hostconfig, which reads and checks them.
    host_config: Mapping[str, Any] = MappingProxyType({})
    config: Mapping[str, Any] = MappingProxyType({})
    volumes_from: Sequence[str] = ()
    pull: str = "missing"  # always, missing, never
    platform: str | None = None


def create(store: Store, image_name: str, command: Sequence[str], opts: CreateOptions
           ) -> ContainerRecord:
    """Record a new container of ``image_name`` and make its directory (nothing runs).

    The image is held (``lamina.store.holds``) from when it is found until the container's
    row keeps it; a caller that found or pulled it first (``ensure_image``) opens the
    ``store.holding()`` block around both, so it is the same image, kept all along."""
    with store.holding():
        return _create(store, image_name, command, opts)


def held_image(store: Store, image_name: str) -> ImageRecord:
    """The image ``image_name`` means, held by the thread's ``store.holding()`` block (the
    one found before in that block), or just found when no block is open."""
    hold = store.holds.current
    return hold.resolve(image_name) if hold is not None else store.resolve(image_name)


def _create(store: Store, image_name: str, command: Sequence[str], opts: CreateOptions
            ) -> ContainerRecord:
    from lamina.engine.networks import check_create
    from lamina.model.config import ImageConfig
    from lamina.runtime.bundle import ContainerDir, parse_bind
    from lamina.runtime.spec import capabilities

    networking = check_create(store, opts)  # (a network that does not exist fails here)
    from lamina.engine.volumes import mount_points, parse_volume

    for spec in opts.volumes:
        if parse_volume(spec).bind:
            parse_bind(spec)
    if opts.workdir and not opts.workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{opts.workdir}' is invalid, it needs to "
                              "be an absolute path")
    capabilities(opts.cap_add, opts.cap_drop)  # unknown capabilities fail here
    from lamina.runtime.security import check_security_opts

    security_opt = check_security_opts(opts.security_opt)  # a profile file is read here
    image = held_image(store, image_name)
    image_config = ImageConfig.parse(store.blobs.read(image.id)).config
    name = validate_name(opts.name) if opts.name else None
    config = container_config(image_config, image_name, command, opts)
    container_id = os.urandom(32).hex()  # (secrets.token_hex, without importing secrets)
    uts_host = opts.host_config.get("UTSMode") == "host"
    if uts_host and (opts.hostname or opts.config.get("Domainname")):
        raise InvalidArgument("Conflicting options: hostname and the UTS mode")
    if not config["Hostname"]:
        config["Hostname"] = os.uname().nodename if opts.network == "host" or uts_host \
            else container_id[:12]
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
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "LogConfig": {"Type": "json-file", "Config": {}},
        "ShmSize": 64 * 1024 * 1024,
        **opts.host_config,
    }
    if opts.volumes_from:
        host_config["VolumesFrom"] = list(opts.volumes_from)
        host_config["Binds"] = [*(host_config["Binds"] or []),
                                *_volumes_from(store, opts.volumes_from)]
    if host_config["RestartPolicy"]["Name"] != "no" and opts.autoremove:
        raise UsageError("conflicting options: cannot specify both --restart and --rm")
    host_config.update(networking.host_config)
    if networking.exposed:
        config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}),
                                  **{p: {} for p in networking.exposed}}
    if opts.mac_address:
        config["MacAddress"] = opts.mac_address
    record_config: dict[str, Any] = {"Config": config, "HostConfig": host_config,
                                     "Path": path, "Args": args,
                                     "NetworkingConfig": networking.networking_config}
    # named and anonymous volumes: -v, --volumes-from, --mount type=volume, the image's
    points = mount_points(store, image_config.get("Volumes"), [
        *(host_config["Binds"] or []), *_volume_mounts(host_config.get("Mounts") or ())])
    if points:
        record_config["MountPoints"] = points
    record = ContainerRecord(
        id=container_id, name=name or generate_name(store.containers.names()),
        image_id=str(image.id), image_name=image_name, created=time.time(),
        config=record_config,
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


def platform_check(store: Store, image_name: str, wanted: str | None,
                   warn: Callable[[str], object]) -> None:
    """docker's word on an image of another platform than the one asked for (--platform) or,
    when none was asked for, than the host's: an error for the first, a warning (to ``warn``)
    for the second. Then it runs, as docker's does: where a binfmt_misc handler (qemu-user)
    takes its architecture, under it; elsewhere the kernel refuses its programs, and the
    runtime says so as docker's does ("exec /bin/sh: exec format error")."""
    data = _image_config_data(store, image_name)
    machine = os.uname().machine
    # (an image that does not say is taken as the host's, as docker takes it)
    architecture = str(data.get("architecture") or _GO_ARCH.get(machine, machine))
    if not wanted and data.get("os", "linux") == "linux" and \
            architecture == _GO_ARCH.get(machine, machine) and \
            data.get("variant") in (None, "", "v1", "v8"):
        return  # the common case, decided without the platform module (a dataclass)
    from lamina.model.platform import Platform

    actual = Platform(str(data.get("os") or "linux"), architecture,
                      data.get("variant") or None)
    host = Platform.host()
    if wanted:
        asked = Platform.parse(wanted)
        if not asked.matches(actual):
            raise InvalidArgument(f"image with reference {image_name} was found but does not "
                                  f"match the specified platform: wanted {asked}, actual: "
                                  f"{actual}")
    elif not host.matches(actual):
        warn(f"WARNING: The requested image's platform ({actual}) does not match the "
             f"detected host platform ({host}) and no specific platform was requested")


_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}


def _image_config_data(store: Store, image_name: str) -> dict[str, Any]:
    import json

    image = held_image(store, image_name)
    data = json.loads(store.blobs.read(image.id))
    return data if isinstance(data, dict) else {}


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
        "Domainname": opts.config.get("Domainname", ""),
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
    for key, given in opts.config.items():
        if key == "Healthcheck" and given.get("Test") != ["NONE"]:
            given = {**(image.get("Healthcheck") or {}), **given}  # flags over the image's
        config[key] = given
    return config


def _volumes_from(store: Store, names: Sequence[str]) -> list[str]:
    """--volumes-from CONTAINER[:ro|rw]: its binds (and bind mounts), read-only with ro."""
    binds: list[str] = []
    for text in names:
        name, _, mode = text.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidArgument(f"invalid mode for volumes-from: {mode}")
        try:
            other = store.containers.find(name)
        except NotFound:
            raise NotFound(f"No such container: {name}") from None
        host = other.config.get("HostConfig", {})
        found = [b for b in host.get("Binds") or [] if b.startswith("/") and ":" in b]
        found += [f"{p['Name']}:{p['Destination']}" + ("" if p.get("RW", True) else ":ro")
                  for p in other.config.get("MountPoints") or ()]
        found += [f"{m['Source']}:{m['Target']}" + (":ro" if m.get("ReadOnly") else "")
                  for m in host.get("Mounts") or [] if m.get("Type") == "bind"]
        for bind in found:
            parts = bind.split(":")
            if mode:
                parts = [*parts[:2], mode]
            binds.append(":".join(parts))
    return binds


def _volume_mounts(mounts: Sequence[dict[str, Any]]) -> list[str]:
    """--mount type=volume entries as -v specs (NAME:/path[:ro,nocopy], or /path)."""
    specs = []
    for m in mounts:
        if m.get("Type") != "volume":
            continue
        flags = [*(["ro"] if m.get("ReadOnly") else []),
                 *(["nocopy"] if (m.get("VolumeOptions") or {}).get("NoCopy") else [])]
        spec = f"{m['Source']}:{m['Target']}" if m.get("Source") else m["Target"]
        specs.append(spec + (":" + ",".join(flags) if flags else ""))
    return specs


def process_args(config: dict[str, Any]) -> tuple[str, list[str]]:
    argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    return (argv[0], argv[1:]) if argv else ("", [])


def read_env_files(paths: Sequence[str]) -> list[str]:
    entries: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {(exc.strerror or str(exc)).lower()}"
                                  ) from None
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


def wait_next_exit(store: Store, record: ContainerRecord) -> int | None:
    """``wait``: the container's next exit, as docker's; for one its restart policy runs
    again (``--restart``), that exit, not its monitor's end."""
    policy = (record.config.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name")
    if policy in (None, "", "no") or record.state != "running":
        return wait_exit(store, record.id)
    from lamina.runtime.restarts import read_state

    directory = store.containers_dir / record.id
    first = read_state(directory)
    # An exit shows as "between runs" (Restarting), or, once the next run started, as one
    # more restart counted. Already between runs: the exit of the run to come.
    target = int(first.get("RestartCount") or 0) + (1 if first.get("Restarting") else 0)
    while True:
        code = wait_exit(store, record.id, 0.1)
        if code is not None:
            return code  # the monitor ended: no more restarts
        now = read_state(directory)
        count = int(now.get("RestartCount") or 0)
        if count > target or (count == target and now.get("Restarting")):
            return int(now.get("ExitCode") or 0)


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
    config = record.config.get("Config", {})
    stop_signal = signal_name or config.get("StopSignal") or "SIGTERM"
    if timeout is None:  # --stop-timeout, else docker's 10 s
        timeout = config.get("StopTimeout") if config.get("StopTimeout") is not None else 10.0
    mark_stopping(store, record.id)  # its monitor must not restart it (--restart)
    runtime.kill(record.id, _signal_arg(stop_signal))
    _thaw(record, runtime)
    if wait_exit(store, record.id, timeout if timeout >= 0 else None) is None:
        _force_stop(store, record, runtime)
    return record


def mark_stopping(store: Store, container_id: str) -> None:
    """Tell the container's monitor that the container is being stopped on purpose, so that
    its restart policy does not start it again (docker's "manually stopped")."""
    with suppress(OSError):
        (store.containers_dir / container_id / "stopping").touch()


def _thaw(record: ContainerRecord, runtime: Any) -> None:
    """A paused container's processes take the signal just sent only once thawed."""
    from lamina.runtime.cgroups import frozen

    if frozen(record.id):
        with suppress(ContainerError):
            runtime.resume(record.id)


def _force_stop(store: Store, record: ContainerRecord, runtime: Any) -> None:
    """SIGKILL; failing that, every process of its cgroup; failing that, say so. (docker's
    kill event, signal 9, comes first: before rm -f's destroy, after stop's kill 15.)"""
    mark_stopping(store, record.id)
    record_container(store, record, "kill", signal="9")
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
    stop_signal = _signal_arg(record.config.get("Config", {}).get("StopSignal") or "SIGTERM")
    if signal in ("9", stop_signal):
        mark_stopping(store, record.id)  # a kill to end it: no restart after it (docker's)
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


def remove(store: Store, text: str, *, force: bool = False, volumes: bool = False
           ) -> ContainerRecord:
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
    if volumes:
        from lamina.engine.volumes import remove_anonymous

        remove_anonymous(store, record)
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
