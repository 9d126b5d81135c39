"""Exec: create an instance, start it (hijacked, or detached), inspect it, resize its tty."""

from __future__ import annotations

import asyncio
import os
import pty
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from lamina.api.attach import detach_keys, set_window, window_size
from lamina.api.containers import STDERR, STDOUT, frame
from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.api.util import body_object, console_size
from lamina.runtime.detach import Matcher


def register(api: Api) -> None:
    api.route("POST", "/containers/{id}/exec")(create)
    api.route("POST", "/exec/{id}/start")(start)
    api.route("POST", "/exec/{id}/resize")(resize)
    api.route("GET", "/exec/{id}/json")(inspect)


@dataclass
class ExecInstance:
    id: str
    container: str
    argv: list[str]
    env: list[str]
    workdir: str | None
    user: str | None
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    privileged: bool
    detach_keys: bytes  # with a tty: the keys that leave the command running, unattached
    console_size: list[int] | None = None  # the tty's [height, width] to begin with
    running: bool = False
    exit_code: int | None = None
    master: int | None = None
    started: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    detached: asyncio.Event = field(default_factory=asyncio.Event)


def _strs(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPError(400, f"invalid {name}: expected a list of strings")
    return value


async def create(api: Api, req: Request, res: Response) -> None:
    body = body_object(await req.json())
    argv = _strs(body.get("Cmd"), "Cmd")
    if not argv:
        raise HTTPError(400, "No exec command specified")
    record = await api.call(api.engine.container, req.params["id"])
    if record.state != "running":
        raise HTTPError(409, f"container {record.id} is not running")
    instance = ExecInstance(
        id=os.urandom(32).hex(), container=record.id, argv=argv,
        env=_strs(body.get("Env"), "Env"),
        workdir=body.get("WorkingDir") or None, user=body.get("User") or None,
        tty=bool(body.get("Tty")), stdin=bool(body.get("AttachStdin")),
        stdout=bool(body.get("AttachStdout")), stderr=bool(body.get("AttachStderr")),
        privileged=bool(body.get("Privileged")),
        detach_keys=detach_keys(_opt_str(body.get("DetachKeys"), "DetachKeys")),
        console_size=console_size(body.get("ConsoleSize")))
    for value, name in ((instance.workdir, "WorkingDir"), (instance.user, "User")):
        if value is not None and not isinstance(value, str):
            raise HTTPError(400, f"invalid {name}: expected a string")
    api.execs[instance.id] = instance
    await res.json({"Id": instance.id}, 201)


def _opt_str(value: Any, name: str) -> str:
    if value is not None and not isinstance(value, str):
        raise HTTPError(400, f"invalid {name}: expected a string")
    return value or ""


def _instance(api: Api, exec_id: str) -> ExecInstance:
    instance = api.execs.get(exec_id)
    if instance is None:
        raise HTTPError(404, f"No such exec instance: {exec_id}")
    return instance


class _LoopWriter:
    """A file the exec's output thread writes to: each write goes to the connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, writer: asyncio.StreamWriter,
                 stream_id: int | None) -> None:
        self.loop, self.writer, self.stream_id = loop, writer, stream_id

    def write(self, data: bytes) -> int:
        payload = frame(self.stream_id, data) if self.stream_id else bytes(data)
        self.loop.call_soon_threadsafe(self._write, payload)
        return len(data)

    def _write(self, payload: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(payload)

    def flush(self) -> None:
        pass


async def start(api: Api, req: Request, res: Response) -> None:
    instance = _instance(api, req.params["id"])
    body = body_object(await req.json())
    if instance.started:
        raise HTTPError(409, f"exec {instance.id} has already been started")
    size = console_size(body.get("ConsoleSize"))
    instance.console_size = size or instance.console_size
    instance.started = True
    detach = bool(body.get("Detach"))
    loop = asyncio.get_running_loop()
    if detach:
        task = loop.create_task(_run(api, instance, None, None))
        api.tasks.add(task)
        task.add_done_callback(api.tasks.discard)
        await res.empty(200)
        return
    content_type = "application/vnd.docker.raw-stream" if instance.tty else \
        "application/vnd.docker.multiplexed-stream"
    await res.hijack(content_type)
    # The command runs in a task of its own: a client that types the detach keys lets go
    # of the connection here, and the command runs on without it, as docker's does.
    task = loop.create_task(_run(api, instance, req.reader, req.writer))
    api.tasks.add(task)
    task.add_done_callback(api.tasks.discard)
    detached = loop.create_task(instance.detached.wait())
    try:
        await asyncio.wait({task, detached}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        detached.cancel()
    if task.done():
        task.result()


async def _run(api: Api, instance: ExecInstance, reader: asyncio.StreamReader | None,
               writer: asyncio.StreamWriter | None) -> None:
    loop = asyncio.get_running_loop()
    stdin_read = stdin_write = None
    slave = None
    kwargs: dict[str, Any] = {}
    if instance.tty:
        instance.master, slave = pty.openpty()
        if instance.console_size is not None:
            set_window(instance.master, *instance.console_size)
        kwargs["terminal"] = slave
    else:
        if instance.stdin and reader is not None:
            stdin_read, stdin_write = os.pipe()
            kwargs["stdin"] = stdin_read
        if writer is not None:
            kwargs["stdout"] = _LoopWriter(loop, writer, STDOUT) if instance.stdout else None
            kwargs["stderr"] = _LoopWriter(loop, writer, STDERR) if instance.stderr else None
    drained = asyncio.Event()
    if instance.master is not None:
        master = instance.master
        os.set_blocking(master, False)

        def on_output() -> None:
            try:
                data = os.read(master, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(master)
                drained.set()
                return
            if writer is not None and not writer.is_closing() and not instance.detached.is_set():
                writer.write(data)

        loop.add_reader(master, on_output)
    else:
        drained.set()
    input_task = None
    if reader is not None and instance.stdin:
        target = instance.master if instance.master is not None else stdin_write
        # docker watches for the detach keys only on a tty: piped stdin passes as it is
        escape = Matcher(instance.detach_keys if instance.tty else b"")
        input_task = loop.create_task(_copy_input(reader, target, stdin_write, escape,
                                                  instance.detached.set))
    instance.running = True
    try:
        code = await api.call(api.engine.exec, instance.container, instance.argv,
                              env=instance.env, workdir=instance.workdir, user=instance.user,
                              tty=instance.tty, privileged=instance.privileged, **kwargs)
    except Exception as exc:
        from lamina.errors import ContainerError

        code = exc.exit_code if isinstance(exc, ContainerError) else 126
        message = getattr(exc, "message", str(exc))
        if writer is not None and not writer.is_closing():
            text = (message + "\r\n").encode()
            writer.write(text if instance.tty else frame(STDERR, text))
    finally:
        instance.running = False
        if stdin_read is not None:
            os.close(stdin_read)
        if slave is not None:
            os.close(slave)
    instance.exit_code = code
    # docker keeps an exec's result for a while after it ends (a client inspects it once)
    loop.call_later(600, api.execs.pop, instance.id, None)
    if instance.master is not None:
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drained.wait(), 2.0)
        loop.remove_reader(instance.master)
        os.close(instance.master)
        instance.master = None
    if input_task is not None:
        input_task.cancel()
    elif stdin_write is not None:
        os.close(stdin_write)
    if writer is not None:
        with suppress(ConnectionError, OSError):
            await writer.drain()
    instance.done.set()


async def _copy_input(reader: asyncio.StreamReader, target: int | None, close: int | None,
                      escape: Matcher, on_detach: Callable[[], None]) -> None:
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            data = escape.feed(data)
            if escape.detached:
                on_detach()
                break
            while data and target is not None:
                try:
                    data = data[os.write(target, data):]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
    except (ConnectionError, OSError):
        pass
    finally:
        if close is not None:
            with suppress(OSError):
                os.close(close)


async def resize(api: Api, req: Request, res: Response) -> None:
    height, width = window_size(req)
    instance = _instance(api, req.params["id"])
    if instance.master is None:
        if not instance.tty:
            raise HTTPError(400, "the exec instance has no tty to resize")
        raise HTTPError(409, f"exec {instance.id} is not running")
    with suppress(OSError):
        set_window(instance.master, height, width)
    await res.empty(200)


async def inspect(api: Api, req: Request, res: Response) -> None:
    instance = _instance(api, req.params["id"])
    await res.json({
        "ID": instance.id, "Running": instance.running, "ExitCode": instance.exit_code,
        "ProcessConfig": {"tty": instance.tty, "entrypoint": instance.argv[0],
                          "arguments": instance.argv[1:], "privileged": instance.privileged,
                          "user": instance.user or ""},
        "OpenStdin": instance.stdin, "OpenStderr": instance.stderr,
        "OpenStdout": instance.stdout, "CanRemove": False, "ContainerID": instance.container,
        "DetachKeys": "", "Pid": 0,
    })
