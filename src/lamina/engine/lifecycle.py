"""Starting containers (run, start, restart), exec into them, and their logs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from lamina.engine.containers import (
    CreateOptions,
    create,
    find,
    monitor_alive,
    remove,
    runtime_for,
    stop,
)
from lamina.engine.events import record_container
from lamina.engine.exits import RECORDER
from lamina.engine.settings import Settings
from lamina.errors import ContainerError, LaminaError, NotFound
from lamina.store import ContainerRecord, ImageRecord, Store

if TYPE_CHECKING:
    from lamina.runtime.launch import Attach, Started
    from lamina.runtime.logs import LogEntry


class Running(NamedTuple):
    """A started container: its record, and the attached ends when attached."""

    record: ContainerRecord
    started: Started | None


def start(store: Store, text: str, *, attach: Attach | None = None,
          runtime: str | None = None, settings: Settings | None = None) -> Running:
    """Start a created or exited container; a running one is left as it is."""
    from lamina.runtime.launch import launch

    record = find(store, text)
    if record.state == "running":
        if attach is not None:
            raise ContainerError(f"container {record.name} is already running", exit_code=1)
        return Running(record, None)
    if record.state == "removing":
        raise ContainerError(f"container {record.name} is being removed", exit_code=1)
    from lamina.runtime.mounts import require_root
    from lamina.runtime.restarts import reset

    require_root("running containers")
    from lamina.engine.hostconfig import missing_device, unsatisfiable_device_request

    reset(store.containers_dir / record.id)  # a deliberate start: restarts counted anew
    # (run has done it already, before the container was created)
    warm_network(record.config.get("HostConfig", {}).get("NetworkMode"))
    try:
        host = record.config.get("HostConfig", {})
        refused = unsatisfiable_device_request(host)
        if refused:  # --gpus: no device driver here (docker's error where it has none)
            raise ContainerError(refused)
        missing = missing_device(host)
        if missing:  # (docker's run exits 127 for it: "no such file or directory")
            raise ContainerError(missing, exit_code=127 if "no such file" in missing else 125)
        started = launch(store, record, runtime_for(record, runtime, settings=settings),
                         attach=attach, recorder=RECORDER)
    except LaminaError as exc:
        _record_failure(store, record, exc)
        raise
    finally:
        cool_network()
    store.containers.update(record.id, state="running", pid=started.pid,
                            monitor_pid=started.monitor, started=time.time(), finished=None,
                            exit_code=None, error="")
    record_container(store, record, "start")
    started.acknowledge(keep=attach is not None)
    return Running(record, started)


def _record_failure(store: Store, record: ContainerRecord, exc: LaminaError) -> None:
    """A start that failed: docker keeps the container as created, with the error (and the
    exit code a run would have had); --rm removes it. Nothing is mounted any more: the
    preparation and the monitor undo their mounts when they fail."""
    if store.containers.get(record.id) is None:
        return
    if record.config.get("HostConfig", {}).get("AutoRemove"):
        with suppress(NotFound):
            remove(store, record.id, force=True)
        return
    code = exc.exit_code if isinstance(exc, ContainerError) else 125
    store.containers.update(record.id, error=exc.message, exit_code=code)


def run(store: Store, image_name: str, command: Sequence[str], opts: CreateOptions, *,
        attach: Attach | None, pull: Callable[[str], None] | None = None,
        settings: Settings | None = None) -> Running:
    """create + start; a missing image is pulled first with ``pull``."""
    from lamina.runtime.mounts import require_root

    require_root("running containers")  # before anything is pulled or created
    warm_network(opts.network)  # (before a pull starts any thread)
    try:
        with store.holding():  # the image found or pulled is kept until the container is made
            ensure_image(store, image_name, opts, pull)
            record = create(store, image_name, command, opts)
        return start(store, record.id, attach=attach, runtime=opts.runtime, settings=settings)
    finally:
        cool_network()


def warm_network(mode: str | None) -> None:
    """A container on a bridge network is to start in this thread: the child that will make
    its network namespace starts now, and loads pyroute2 while the container is created."""
    from lamina.network import netlink

    if (mode or "bridge") not in ("host", "none") and not (mode or "").startswith("container:"):
        netlink.warm()


def cool_network() -> None:
    """The start is over (or failed): the warm child, if unused, goes."""
    from lamina.network import netlink

    netlink.cool()


def prepare_run(store: Store, image_name: str, opts: CreateOptions,
                pull: Callable[[str], None] | None, warn: Callable[[str], object], *,
                running: bool = True) -> CreateOptions:
    """What run (``running``) and create do before the container is made: refuse a user who
    cannot run containers, pull as --pull says, check the image's platform (--platform;
    docker's warning to ``warn``). The options to create with (the image is there now).

    The image is held by the caller's ``store.holding()`` block, which must go on until the
    container is made (``lamina.store.holds``)."""
    from lamina.engine.containers import platform_check
    from lamina.runtime.mounts import require_root

    if running:
        require_root("running containers")  # before anything is pulled or created
    ensure_image(store, image_name, opts, pull)
    platform_check(store, image_name, opts.platform, warn)
    return opts._replace(pull="missing")


def ensure_image(store: Store, image_name: str, opts: CreateOptions,
                 pull: Callable[[str], None] | None) -> ImageRecord:
    """--pull: ``missing`` pulls an image the store lacks, ``always`` pulls it anyway,
    ``never`` refuses a missing one. The image, held from the moment it is found or recorded
    by the thread's ``store.holding()`` block (the caller's: open one around this and the
    create that follows, so that no other process's ``rmi`` or ``prune`` comes between)."""
    with store.holding() as hold:
        if opts.pull != "always":
            try:
                return hold.resolve(image_name)
            except NotFound:
                if pull is None or opts.pull == "never":
                    raise
        elif pull is None:
            raise ContainerError("pulling is not available here", exit_code=125)
        recorded = len(hold.recorded)
        pull(image_name)
        if len(hold.recorded) > recorded:  # (held since the pull recorded it)
            return hold.adopt(image_name, hold.recorded[-1])
        return hold.resolve(image_name)


def restart(store: Store, text: str, *, timeout: float | None = None,
            signal_name: str | None = None, settings: Settings | None = None) -> ContainerRecord:
    record = stop(store, text, timeout=timeout, signal_name=signal_name)
    start(store, record.id, settings=settings)
    return record


def exec_in(store: Store, text: str, argv: Sequence[str], *, env: Sequence[str] = (),
            workdir: str | None = None, user: str | None = None, tty: bool = False,
            stdin: int | None = None, stdout: BinaryIO | None = None,
            stderr: BinaryIO | None = None, env_files: Sequence[str] = (),
            privileged: bool = False, detach: bool = False,
            detach_keys: str | None = None, terminal: int | None = None) -> int:
    from lamina.engine.containers import read_env_files
    from lamina.runtime.bundle import ContainerDir
    from lamina.runtime.exec import exec_process

    if not argv:
        raise ContainerError("exec needs a command", exit_code=125)
    from lamina.runtime.detach import DEFAULT, parse_keys

    keys = parse_keys(detach_keys if detach_keys is not None else DEFAULT)
    env = exec_env([*read_env_files(env_files), *env])
    record = find(store, text)
    if record.state != "running":
        raise ContainerError(f"container {record.id} is not running", exit_code=1)
    from lamina.runtime.cgroups import frozen

    if frozen(record.id):
        raise ContainerError(f"Container {record.id} is paused, unpause the container before "
                             "exec", exit_code=1)
    host = record.config.get("HostConfig", {})
    return exec_process(ContainerDir.of(store, record.id), runtime_for(record, store=store),
                        argv, env=env, workdir=workdir, user=user, tty=tty, stdin=stdin,
                        stdout=stdout, stderr=stderr, group_add=host.get("GroupAdd") or (),
                        privileged=privileged, detach=detach, detach_keys=keys,
                        terminal=terminal)


def exec_env(entries: Sequence[str]) -> list[str]:
    """exec's -e and --env-file entries as docker takes them: ``NAME`` alone passes this
    process's value when it has one."""
    import os

    out = []
    for entry in entries:
        key, sep, _ = entry.partition("=")
        if not key:
            raise ContainerError(f"invalid environment variable: {entry}", exit_code=125)
        if not sep:
            if key not in os.environ:
                continue
            entry = f"{key}={os.environ[key]}"
        out.append(entry)
    return out


def top(store: Store, text: str, ps_args: Sequence[str] = ()) -> str:
    """``ps PS_ARGS`` (docker's default ``-ef``) on the host, the container's processes only."""
    record = find(store, text)
    if record.state != "running":
        raise ContainerError(f"Container {record.id} is not running", exit_code=1)
    return str(runtime_for(record, store=store).ps(record.id, list(ps_args) or ["-ef"]))


def logs(store: Store, text: str, *, follow: bool = False, tail: str = "all",
         since: float | None = None, until: float | None = None) -> Iterator[LogEntry]:
    """The container's output, from its log (rotated files included); ``since`` and
    ``until`` (epoch seconds) keep the entries written in between."""
    from lamina.runtime import logs as _logs
    from lamina.runtime.bundle import ContainerDir

    record = find(store, text)
    log_type = (record.config.get("HostConfig", {}).get("LogConfig") or {}).get("Type")
    if log_type == "none":
        raise ContainerError('configured logging driver does not support reading',
                             exit_code=1)
    path = ContainerDir.of(store, record.id).log
    if not follow or (until is not None and until <= time.time()):
        entries, _ = _logs.read_all(path)
        yield from _logs.tail([e for e in entries if _logs.within(e, since, until)], tail)
        return
    reader = _logs.Follower(path)  # (holds the log open: a rotation meanwhile loses nothing)
    try:
        entries = reader.read_all()
        yield from _logs.tail([e for e in entries if _logs.within(e, since, until)], tail)
        for entry in reader.follow(lambda: monitor_alive(store, record.id)):
            if until is not None and _logs.entry_time(entry) >= until:
                return
            if _logs.within(entry, since, until):
                yield entry
    finally:
        reader.close()



def attach_hooks(*, stdin: int | None = None, output: bool = True) -> Attach:
    """What an attached command hands the monitor: its stdin (for -i), and output wanted."""
    from lamina.runtime.launch import Attach

    return Attach(stdin=stdin, output=output)


def attach(store: Store, running: Running, stdout: BinaryIO, stderr: BinaryIO, *,
           stdin: int | None = None, proxy_signals: bool = True,
           detach_keys: str | None = None) -> int:
    """Stream an attached container's output until it exits; record the exit; its code."""
    from lamina.engine.containers import wait_exit
    from lamina.engine.exits import sync
    from lamina.runtime.attach import attach as _attach

    assert running.started is not None
    keys = {}
    if detach_keys:
        from lamina.engine.hostconfig import detach_sequence

        keys["detach_keys"] = detach_sequence(detach_keys)
    code = _attach(running.started, stdout, stderr, stdin=stdin, proxy_signals=proxy_signals,
                   **keys)
    if running.started.restarting or running.started.detached:
        # --restart: it runs again; detached: it runs on. Its monitor records its end.
        return code
    record = store.containers.get(running.record.id)
    # The monitor lets go right after telling us. (A --rm one has already removed its files,
    # lock and all: waiting would find no lock and record the exit without its code.)
    if record is not None and not record.config.get("HostConfig", {}).get("AutoRemove"):
        wait_exit(store, running.record.id, 10.0)
        record = store.containers.get(running.record.id)
    if record is not None:
        sync(store, record, monitor_done=True, note=(code, time.time()))
    return code


def attach_to(store: Store, text: str, stdout: BinaryIO, stderr: BinaryIO, *,
              stdin: int | None, detach_keys: str | None = None,
              sig_proxy: bool = True) -> int:
    """``attach``: a running container's output, and its stdin when it was made with -i,
    until it ends (its exit code) or the detach keys are typed (0)."""
    from lamina.engine.containers import wait_exit
    from lamina.runtime.attach import attach_later
    from lamina.runtime.attach_point import connect
    from lamina.runtime.bundle import ContainerDir
    from lamina.runtime.cgroups import frozen
    from lamina.runtime.detach import DEFAULT, parse_keys

    keys = parse_keys(detach_keys if detach_keys is not None else DEFAULT)
    record = find(store, text)
    if record.state != "running":
        raise ContainerError("You cannot attach to a stopped container, start it first",
                             exit_code=1)
    if frozen(record.id):
        raise ContainerError("You cannot attach to a paused container, unpause it first",
                             exit_code=1)
    sock = connect(ContainerDir.of(store, record.id).path)
    if sock is None:  # it ended meanwhile (or its monitor predates attaching)
        raise ContainerError("You cannot attach to a stopped container, start it first",
                             exit_code=1)
    config = record.config.get("Config", {})
    code = attach_later(sock, record.pid or 0, stdout, stderr,
                        stdin=stdin if config.get("OpenStdin") else None,
                        tty=bool(config.get("Tty")), detach_keys=keys, sig_proxy=sig_proxy)
    if code is None:  # the monitor went without a word: the record tells how it ended
        code = wait_exit(store, record.id, 10.0)
    return code if code is not None else 125
