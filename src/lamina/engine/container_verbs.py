"""The Engine's container verbs (a mixin of ``Engine``, which owns ``store``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from lamina.engine.container_views import ContainerRow
    from lamina.engine.containers import CreateOptions
    from lamina.engine.copy import Copied
    from lamina.engine.lifecycle import Running
    from lamina.engine.settings import Settings
    from lamina.engine.stats import StatsRow
    from lamina.engine.update import UpdateOptions
    from lamina.runtime.launch import Attach
    from lamina.runtime.logs import LogEntry
    from lamina.store import ContainerRecord, Store


class ContainerVerbs:
    settings: Settings  # Engine's

    @property
    def store(self) -> Store:  # Engine's cached property
        raise NotImplementedError

    def create_container(self, image: str, command: Sequence[str], options: CreateOptions,
                         *, pull: Callable[[str], None] | None = None) -> ContainerRecord:
        from lamina.engine import containers
        from lamina.engine.lifecycle import ensure_image

        with self.store.holding():  # the image found or pulled is kept until it is used
            ensure_image(self.store, image, options, pull)
            return containers.create(self.store, image, command, options)

    def run(self, image: str, command: Sequence[str], options: CreateOptions, *,
            attach: Attach | None = None, pull: Callable[[str], None] | None = None) -> Running:
        from lamina.engine import lifecycle

        return lifecycle.run(self.store, image, command, options, attach=attach, pull=pull,
                             settings=self.settings)

    def attach(self, running: Running, stdout: BinaryIO, stderr: BinaryIO, *,
               stdin: int | None = None, proxy_signals: bool = True,
               detach_keys: str | None = None) -> int:
        from lamina.engine import lifecycle

        return lifecycle.attach(self.store, running, stdout, stderr, stdin=stdin,
                                proxy_signals=proxy_signals, detach_keys=detach_keys)

    def attach_to(self, name: str, stdout: BinaryIO, stderr: BinaryIO, *,
                  stdin: int | None = None, detach_keys: str | None = None,
                  sig_proxy: bool = True) -> int:
        """Attach to a running container (``lamina attach``); its exit code, or 0 when
        detached."""
        from lamina.engine import lifecycle
        from lamina.engine.containers import find

        record = find(self.store, name)
        if record.state == "running":
            self._event(record, "attach")
        return lifecycle.attach_to(self.store, record.id, stdout, stderr, stdin=stdin,
                                   detach_keys=detach_keys, sig_proxy=sig_proxy)

    def start(self, name: str, *, attach: Attach | None = None) -> Running:
        from lamina.engine import lifecycle

        return lifecycle.start(self.store, name, attach=attach, settings=self.settings)

    def stop(self, name: str, *, timeout: float | None = None,
             signal: str | None = None) -> ContainerRecord:
        from lamina.engine import containers
        from lamina.runtime.oci import signal_number

        before = containers.find(self.store, name)
        if before.state == "running":  # docker's kill (with the signal), then die, then stop
            stop_signal = signal or before.config.get("Config", {}).get("StopSignal") or "TERM"
            self._event(before, "kill", signal=str(signal_number(stop_signal)))
        record = containers.stop(self.store, name, timeout=timeout, signal_name=signal)
        self._event(record, "stop")
        return record

    def restart(self, name: str, *, timeout: float | None = None,
                signal: str | None = None) -> ContainerRecord:
        from lamina.engine import lifecycle

        record = lifecycle.restart(self.store, name, timeout=timeout, signal_name=signal,
                                   settings=self.settings)
        self._event(record, "restart")
        return record

    def kill(self, name: str, signal: str = "KILL") -> ContainerRecord:
        from lamina.engine import containers
        from lamina.runtime.oci import signal_number

        record = containers.kill(self.store, name, signal)
        self._event(record, "kill", signal=str(signal_number(signal)))
        return record

    def pause(self, name: str) -> ContainerRecord:
        from lamina.engine import pause

        record = pause.pause(self.store, name)
        self._event(record, "pause")
        return record

    def unpause(self, name: str) -> ContainerRecord:
        from lamina.engine import pause

        record = pause.unpause(self.store, name)
        self._event(record, "unpause")
        return record

    def update(self, name: str, options: UpdateOptions) -> ContainerRecord:
        """New resource limits for a container, in its cgroup at once while it runs."""
        from lamina.engine import update

        record = update.update(self.store, name, options)
        self._event(record, "update")
        return record

    def rename(self, name: str, new_name: str) -> ContainerRecord:
        from lamina.engine import containers

        record = containers.rename(self.store, name, new_name)
        renamed = self.store.containers.get(record.id) or record
        self._event(renamed, "rename", oldName="/" + record.name)
        return record

    def stats(self, names: Sequence[str] = (), *, all: bool = False,
              interval: float = 1.0) -> list[StatsRow]:
        """What the containers use over ``interval`` seconds (the running ones by default)."""
        from lamina.engine import stats

        return stats.sample(stats.containers_for_stats(self.store, names, all=all), interval)

    def top(self, name: str, ps_args: Sequence[str] = ()) -> str:
        from lamina.engine import lifecycle

        return lifecycle.top(self.store, name, ps_args)

    def remove_container(self, name: str, *, force: bool = False,
                         volumes: bool = False) -> ContainerRecord:
        from lamina.engine import containers

        return containers.remove(self.store, name, force=force, volumes=volumes)

    def wait(self, name: str) -> int:
        from lamina.engine import containers

        record = containers.find(self.store, name)
        code = containers.wait_next_exit(self.store, record)
        return code if code is not None else 0

    def containers(self, *, all: bool = False, filters: Sequence[str] = (), last: int = -1,
                   size: bool = False) -> list[ContainerRow]:
        from lamina.engine import container_views

        return container_views.list_containers(self.store, all=all, filters=filters,
                                               last=last, size=size)

    def container(self, name: str) -> ContainerRecord:
        from lamina.engine import containers

        return containers.find(self.store, name)

    def inspect_container(self, name: str, *, size: bool = False) -> dict[str, Any]:
        from lamina.engine import container_views, containers

        record = containers.find(self.store, name)
        return container_views.inspect_container(self.store, record, size=size)

    def logs(self, name: str, *, follow: bool = False, tail: str = "all",
             since: str | None = None, until: str | None = None) -> Iterator[LogEntry]:
        from lamina.engine import lifecycle
        from lamina.engine.filters import parse_time

        return lifecycle.logs(self.store, name, follow=follow, tail=tail,
                              since=parse_time(since, "since") if since else None,
                              until=parse_time(until, "until") if until else None)

    def exec(self, name: str, argv: Sequence[str], *, env: Sequence[str] = (),
             workdir: str | None = None, user: str | None = None, tty: bool = False,
             stdin: int | None = None, stdout: BinaryIO | None = None,
             stderr: BinaryIO | None = None, env_files: Sequence[str] = (),
             privileged: bool = False, detach: bool = False,
             detach_keys: str | None = None,
             terminal: int | None = None) -> int:
        """Run ``argv`` in the container; its exit code. ``detach``: start it and return 0
        at once, its output discarded (docker's ``exec -d``)."""
        from lamina.engine import lifecycle
        from lamina.engine.containers import find

        record = find(self.store, name)
        exec_id = os.urandom(32).hex()
        command = f"{argv[0]} {' '.join(argv[1:])}" if argv else ""  # docker's, space and all
        self._event(record, f"exec_create: {command}", execID=exec_id)
        self._event(record, f"exec_start: {command}", execID=exec_id)
        code = lifecycle.exec_in(self.store, record.id, argv, env=env, workdir=workdir,
                                 user=user, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr,
                                 env_files=env_files, privileged=privileged, detach=detach,
                                 detach_keys=detach_keys, terminal=terminal)
        if not detach:  # (a detached one's end is not seen)
            self._event(record, "exec_die", execID=exec_id, exitCode=str(code))
        return code

    def _event(self, record: ContainerRecord, action: str, **extra: str) -> None:
        from lamina.engine.events import record_container

        record_container(self.store, record, action, **extra)

    def diff(self, name: str) -> list[tuple[str, str]]:
        from lamina.engine import commit

        return commit.changes(self.store, name)

    def export(self, name: str, out: IO[bytes]) -> None:
        from lamina.engine import commit

        commit.export(self.store, name, out)
        self._event(self.container(name), "export")

    def commit(self, name: str, reference: str | None = None, *, message: str = "",
               author: str = "", changes: Sequence[str] = (), pause: bool = True) -> str:
        """A new image of the container's changes; a running container is paused meanwhile
        (unless ``pause`` is false), as docker does, so its files are taken at one moment."""
        from lamina.engine import commit
        from lamina.runtime.cgroups import frozen

        record = self.container(name)
        paused = pause and record.state == "running" and not frozen(record.id)
        if paused:
            self.pause(record.id)
        try:
            image_id = commit.commit(self.store, name, reference, message=message,
                                     author=author, changes_=changes)
            self._event(record, "commit", comment=message, imageID=image_id,
                        imageRef=reference or "")
        finally:
            if paused:
                self.unpause(record.id)
        return image_id

    def copy(self, source: str, destination: str, *, follow_link: bool = False,
             archive: bool = False, stdin: IO[bytes] | None = None,
             stdout: IO[bytes] | None = None) -> Copied:
        from lamina.engine import copy

        return copy.copy(self.store, source, destination, follow=follow_link, archive=archive,
                         stdin=stdin, stdout=stdout)

    def prune_containers(self, filters: Sequence[str] = ()) -> tuple[list[str], int]:
        from lamina.engine import containers

        return containers.prune(self.store, filters)
