"""Attach: the hijacked connection of ``docker run`` (attached, or ``-it``) and ``docker
attach``, and the window size of a container's tty.

docker's client attaches before it starts the container. lamina's monitor hands its output
(and its tty) to the process that starts the container, so an attach to a container that is
not running waits here until ``/start`` comes, which starts it attached and pumps between
the connection and the container: output framed as docker frames it (raw with a tty), the
client's bytes to the container's stdin or tty. For a container already running, its output
is followed from its log (lamina's monitor forwards the live stdio only to the process that
started it), and stdin is not connected.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from lamina.api.containers import STDERR, STDOUT, frame
from lamina.api.http import HTTPError, Request, Response
from lamina.api.server import Api
from lamina.runtime.detach import Matcher

if TYPE_CHECKING:
    from lamina.engine.lifecycle import Running
    from lamina.runtime.logs import LogEntry
    from lamina.store import ContainerRecord


def register(api: Api) -> None:
    api.route("POST", "/containers/{id}/attach")(attach)
    api.route("POST", "/containers/{id}/resize")(resize)


@dataclass
class AttachSession:
    """A hijacked connection waiting for (then pumping) its container's stdio."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    detach_keys: bytes = b"\x10\x11"  # ctrl-p ctrl-q, docker's default (with a tty only)
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def attach(api: Api, req: Request, res: Response) -> None:
    record = await api.call(api.engine.container, req.params["id"])
    tty = bool(record.config.get("Config", {}).get("Tty"))
    session = AttachSession(req.reader, req.writer, stdin=req.flag("stdin"),
                            stdout=req.flag("stdout"), stderr=req.flag("stderr"), tty=tty,
                            detach_keys=detach_keys(req.arg("detachKeys")))
    if not req.flag("stream") and not req.flag("logs"):
        raise HTTPError(400, "Bad parameters: you must choose at least one of stream or logs")
    content_type = "application/vnd.docker.raw-stream" if tty else \
        "application/vnd.docker.multiplexed-stream"
    if record.state == "running":
        await res.hijack(content_type)
        if req.flag("logs"):
            await _follow_log(api, record, session, logs=True, follow=False)
        if req.flag("stream") and not await _attach_live(api, record, session):
            # a monitor without an attach point (older than it): its output, from the log
            await _follow_log(api, record, session, logs=False, follow=True)
        return
    if record.id in api.attaching:
        raise HTTPError(409, f"container {record.id} already has an attached client waiting")
    await res.hijack(content_type)
    if not req.flag("stream"):
        await _follow_log(api, record, session, logs=True, follow=False)
        return
    api.attaching[record.id] = session
    try:
        await session.done.wait()
    finally:
        if api.attaching.get(record.id) is session:
            del api.attaching[record.id]


async def _follow_log(api: Api, record: ContainerRecord, session: AttachSession, *,
                      logs: bool, follow: bool) -> None:
    """Output from the container's log: what it has (``logs``), then what comes (``follow``)."""
    entries = await api.call(api.engine.logs, record.id, follow=follow,
                             tail="all" if logs else "0")
    loop = asyncio.get_running_loop()
    sentinel = object()
    while True:
        item = await loop.run_in_executor(api.executor, next, entries, sentinel)
        if item is sentinel:
            break
        entry = cast("LogEntry", item)
        wanted = session.stderr if entry.stream == "stderr" else session.stdout
        if not wanted:
            continue
        data = entry.text.encode()
        try:
            session.writer.write(data if session.tty else frame(
                STDERR if entry.stream == "stderr" else STDOUT, data))
            await session.writer.drain()
        except (ConnectionError, OSError):
            return


async def _attach_live(api: Api, record: ContainerRecord, session: AttachSession) -> bool:
    """Attach to a running container through its monitor's attach point: its output from
    now on, the client's bytes to its stdin (made with -i) or terminal, until it ends or the
    client detaches. False when the monitor has no attach point."""
    from lamina.runtime import attach_point
    from lamina.runtime.bundle import ContainerDir

    sock = attach_point.connect(ContainerDir.of(api.engine.store, record.id).path)
    if sock is None:
        return False
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    api.attach_points.setdefault(record.id, []).append(sock)

    def on_packet() -> None:
        try:
            packet = sock.recv(attach_point.PACKET)
        except BlockingIOError:
            return
        except OSError:
            packet = b""
        kind, data = packet[:1], packet[1:]
        if not packet or kind == attach_point.EXIT:
            loop.remove_reader(sock.fileno())
            ended.set()
            return
        stream_id = STDERR if kind == attach_point.STDERR else STDOUT
        wanted = session.stderr if stream_id == STDERR else session.stdout
        if wanted and data and not session.writer.is_closing():
            session.writer.write(data if session.tty else frame(stream_id, data))

    async def copy_input() -> None:
        escape = Matcher(session.detach_keys if session.tty else b"")
        open_stdin = bool(record.config.get("Config", {}).get("OpenStdin"))
        while True:
            data = await session.reader.read(1 << 16)
            if not data:
                if not session.tty:
                    return  # the client closed its stdin; the output goes on
                ended.set()
                return
            data = escape.feed(data)
            if data and open_stdin:
                try:
                    await loop.sock_sendall(sock, attach_point.STDIN + data)
                except OSError:
                    ended.set()
                    return
            if escape.detached:
                ended.set()
                return

    loop.add_reader(sock.fileno(), on_packet)
    input_task = loop.create_task(copy_input()) if session.stdin else None
    try:
        await ended.wait()
        with suppress(ConnectionError, OSError):
            await session.writer.drain()
    finally:
        loop.remove_reader(sock.fileno())
        if input_task is not None:
            input_task.cancel()
        socks = api.attach_points.get(record.id, [])
        if sock in socks:
            socks.remove(sock)
        if not socks:
            api.attach_points.pop(record.id, None)
        sock.close()
    return True


async def start_attached(api: Api, record: ContainerRecord, session: AttachSession) -> None:
    """Start the container with its stdio handed to us, and pump it to the session."""
    from lamina.engine import lifecycle

    stdin_read = stdin_write = None
    if session.stdin and not session.tty:
        stdin_read, stdin_write = os.pipe()
    hooks = lifecycle.attach_hooks(stdin=stdin_read, output=True)
    try:
        running = await api.call(api.engine.start, record.id, attach=hooks)
    except BaseException:
        for fd in (stdin_read, stdin_write):
            if fd is not None:
                os.close(fd)
        session.done.set()
        raise
    finally:
        if stdin_read is not None:
            with suppress(OSError):
                os.close(stdin_read)
    future = api.pumps[record.id] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda _: _forget_later(api, record.id, future))
    if running.started is not None and running.started.master is not None:
        api.ttys[record.id] = running.started.master
    task = asyncio.get_running_loop().create_task(_pump(api, running, session, stdin_write))
    api.tasks.add(task)  # (a reference, so that it is not collected while it runs)
    task.add_done_callback(api.tasks.discard)


async def _pump(api: Api, running: Running, session: AttachSession,
                stdin_write: int | None) -> None:
    try:
        await _pump_streams(api, running, session, stdin_write)
    finally:  # whatever happened, a waiting /wait and the client are let go
        future = api.pumps.get(running.record.id)
        if future is not None and not future.done():
            future.set_result(125)
        session.done.set()


async def _pump_streams(api: Api, running: Running, session: AttachSession,
                        stdin_write: int | None) -> None:
    from lamina.runtime.launch import receive

    started = running.started
    assert started is not None and started.channel is not None
    loop = asyncio.get_running_loop()
    outputs: dict[int, int] = {}
    # The monitor reads the tty (or the pipes) and forwards the output on two pipes; the
    # tty's master is ours for input and the window size only.
    for fd, stream_id in ((started.stdout, STDOUT), (started.stderr, STDERR)):
        if fd is not None:
            outputs[fd] = stream_id
    drained = asyncio.Event()
    if not outputs:
        drained.set()
    exit_code: asyncio.Future[int | None] = loop.create_future()  # None: detached

    def on_output(fd: int, stream_id: int) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: the tty's other side is closed
        if not data:
            loop.remove_reader(fd)
            outputs.pop(fd, None)
            if not outputs:
                drained.set()
            return
        wanted = session.stderr if stream_id == STDERR else session.stdout
        if wanted and not session.writer.is_closing():
            session.writer.write(data if session.tty else frame(stream_id, data))

    for fd, stream_id in list(outputs.items()):
        os.set_blocking(fd, False)
        loop.add_reader(fd, on_output, fd, stream_id)

    channel = started.channel

    def on_channel() -> None:
        loop.remove_reader(channel.fileno())
        try:
            message, _ = receive(channel, 0)
        except (OSError, ValueError):
            message = {}
        if not exit_code.done():
            exit_code.set_result(int(message["exit"]) if "exit" in message else 125)

    loop.add_reader(channel.fileno(), on_channel)
    input_task = None
    if session.stdin:
        def detach() -> None:
            if not exit_code.done():
                exit_code.set_result(None)

        input_task = loop.create_task(_copy_input(session, stdin_write, started.master,
                                                  detach))
    code: int | None = 125
    try:
        code = await exit_code
        if code is None:  # the client detached: the container runs on, unattached
            return
        # the output the container wrote before it exited is still in the pipes
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drained.wait(), 5.0)
        with suppress(ConnectionError, OSError):
            await session.writer.drain()
    finally:
        for fd in list(outputs):
            loop.remove_reader(fd)
        # The channel is closed below: a registration left behind would be taken for the
        # next container's channel when it gets the same descriptor number, and never fire.
        loop.remove_reader(channel.fileno())
        if input_task is not None:
            input_task.cancel()
        if stdin_write is not None and input_task is None:
            with suppress(OSError):
                os.close(stdin_write)
        api.ttys.pop(running.record.id, None)
        try:
            if code is not None:
                await api.call(_record_exit, api, running, code)
        finally:
            # (detached: with its channel closed, the monitor records the exit itself)
            started.close()
            future = api.pumps.get(running.record.id)
            if future is not None and not future.done():
                future.set_result(code)
            session.done.set()
            api.changed()  # (recorded: exited, or with --rm gone)
            api.refresh_soon()


def _forget_later(api: Api, container_id: str, future: asyncio.Future[int | None]) -> None:
    """A wait that comes after the exit still finds its code for a minute."""
    def forget() -> None:
        if api.pumps.get(container_id) is future:
            del api.pumps[container_id]

    asyncio.get_running_loop().call_later(60, forget)


def _record_exit(api: Api, running: Running, code: int) -> None:
    """What ``lamina run`` does after its attached container exits: the monitor left the
    recording to the process it handed the stdio to."""
    from lamina.engine.containers import monitor_alive
    from lamina.engine.exits import sync

    store = api.engine.store
    # The monitor lets go right after telling us. (Not wait_exit: with --rm the monitor has
    # removed the directory and its note, and wait_exit would record an unknown exit.)
    deadline = time.monotonic() + 10.0
    # It still unmounts (and with --rm removes) on its way out, some tens of ms: looks at
    # most 5 ms apart, or the doubling pauses would add up to as much again.
    delay = 0.0002
    while monitor_alive(store, running.record.id) and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.005)
    record = store.containers.get(running.record.id)
    if record is not None:
        sync(store, record, monitor_done=True, note=(code, time.time()))


def detach_keys(text: str) -> bytes:
    """docker's ``detachKeys`` (``ctrl-p,ctrl-q`` when not given), as bytes."""
    from lamina.runtime.detach import DEFAULT, parse_keys

    return parse_keys(text or DEFAULT)


async def _copy_input(session: AttachSession, stdin_write: int | None,
                      master: int | None, on_detach: Callable[[], None]) -> None:
    target = master if master is not None else stdin_write
    # docker watches for the detach keys only on a tty: piped stdin is passed on as it is,
    # whatever bytes it holds
    escape = Matcher(session.detach_keys if session.tty else b"")
    try:
        while True:
            data = await session.reader.read(1 << 16)
            if not data:
                break
            data = escape.feed(data)
            if escape.detached:
                on_detach()
                return
            if target is None:
                continue
            while data:
                try:
                    written = os.write(target, data)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                    continue
                data = data[written:]
    except (ConnectionError, OSError):
        pass
    finally:
        if stdin_write is not None and target == stdin_write:
            # the client closed its stdin (docker's StdinOnce): the container's sees EOF
            with suppress(OSError):
                os.close(stdin_write)


def set_window(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def window_size(req: Request) -> tuple[int, int]:
    height, width = req.int_arg("h", 0), req.int_arg("w", 0)
    assert height is not None and width is not None
    if not (0 <= height < 65536 and 0 <= width < 65536):
        raise HTTPError(400, "invalid tty size")
    return height, width


async def resize(api: Api, req: Request, res: Response) -> None:
    height, width = window_size(req)
    record = await api.call(api.engine.container, req.params["id"])
    master = api.ttys.get(record.id)
    if master is None and api.attach_points.get(record.id):
        from lamina.runtime.attach_point import resize_message

        for sock in api.attach_points[record.id]:
            with suppress(OSError):
                sock.send(resize_message(height, width))
        await res.empty(200)
        return
    if master is None:
        if record.state != "running":
            raise HTTPError(409, f"Container {record.id} is not running")
        if not record.config.get("Config", {}).get("Tty"):
            raise HTTPError(400, "the container has no tty to resize")
        raise HTTPError(409, "the container's tty belongs to the command that started it")
    with suppress(OSError):
        set_window(master, height, width)
    await res.empty(200)
