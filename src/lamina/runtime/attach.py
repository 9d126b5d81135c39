"""The attached side of ``run`` and ``start -a``: stream output, forward signals and the tty.

The monitor forwards the container's stdout and stderr through two pipes; they are copied to
the caller's streams here, while signals the command receives (Ctrl-C, SIGTERM...) are sent on
to the container's init, as docker's --sig-proxy does. With a tty, the terminal is put in raw
mode, keystrokes go to the container's pty and window size changes follow. Returns when the
monitor reports the exit code, after the output is drained.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Iterator
from types import FrameType
from typing import BinaryIO

from lamina.runtime.launch import Started

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q: docker's default


class KeyScanner:
    """Finds the detach sequence in what is typed; what is not part of it passes on (a
    started sequence is held until the next key shows whether it completes)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def scan(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on, and whether the sequence was typed (the rest is dropped)."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            out += self.keys[:self.matched]
            self.matched = 0
            if byte == self.keys[0]:
                self.matched = 1
            else:
                out.append(byte)
        return bytes(out), False


def attach(started: Started, stdout: BinaryIO, stderr: BinaryIO, *,
           stdin: int | None = None, proxy_signals: bool = True,
           detach_keys: bytes = DETACH_KEYS) -> int:
    """Copy the container's output until it exits; return its exit code (125 if unknown)."""
    selector = selectors.DefaultSelector()
    outputs = {}
    for fd, stream in ((started.stdout, stdout), (started.stderr, stderr)):
        if fd is not None:
            selector.register(fd, selectors.EVENT_READ)
            outputs[fd] = stream
    assert started.channel is not None
    channel = started.channel.fileno()
    selector.register(channel, selectors.EVENT_READ)
    if started.master is not None and stdin is not None:
        os.set_blocking(stdin, False)
        selector.register(stdin, selectors.EVENT_READ)
    code: int | None = None
    scanner = KeyScanner(detach_keys) if detach_keys else None
    proxy = _forward_signals(started) if proxy_signals else contextlib.nullcontext()
    with proxy, _raw_terminal(started.master, stdin):
        while (outputs or code is None) and not started.detached:
            for key, _ in selector.select():
                fd = int(key.fd)
                if started.detached:
                    break
                if fd == channel:
                    code = _exit_code(started)
                    selector.unregister(fd)
                    if code is None:
                        code = 125  # the monitor died: we cannot know how it ended
                    continue
                if fd == stdin:
                    if _copy_input(fd, started.master, selector, scanner):
                        started.detached = True  # the container runs on, without us
                    continue
                data = os.read(fd, 1 << 16)
                if not data:
                    selector.unregister(fd)
                    outputs.pop(fd)
                    continue
                outputs[fd].write(data)
                outputs[fd].flush()
    started.close()
    if started.detached or code is None:
        return 0  # (docker: detaching ends the command well)
    return code


def _exit_code(started: Started) -> int | None:
    assert started.channel is not None
    try:
        data = started.channel.recv(4096)
    except ConnectionResetError:
        return None
    if not data:
        return None
    message = json.loads(data)
    started.restarting = bool(message.get("restarting"))
    return int(message["exit"]) if "exit" in message else None


def _copy_input(fd: int, master: int | None, selector: selectors.BaseSelector,
                scanner: KeyScanner | None = None) -> bool:
    """Pass typed keys to the container's tty; True when the detach sequence was typed."""
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        return False
    if not data or master is None:
        selector.unregister(fd)
        return False
    detach = False
    if scanner is not None:
        data, detach = scanner.scan(data)
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(master, data):]
    return detach


@contextlib.contextmanager
def _forward_signals(started: Started) -> Iterator[None]:
    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(started.pid, signum)

    def resize(signum: int, frame: FrameType | None) -> None:
        _copy_window_size(started.master)

    previous = {}
    for sig in FORWARDED:
        previous[sig] = signal.signal(sig, forward)
    if started.master is not None:
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _copy_window_size(master: int | None) -> None:
    if master is None:
        return
    import termios  # (a tty only: termios is an extension module, loaded on demand)

    with contextlib.suppress(OSError):
        size = fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)


@contextlib.contextmanager
def _raw_terminal(master: int | None, stdin: int | None) -> Iterator[None]:
    if master is None or stdin is None or not os.isatty(stdin):
        yield
        return
    _copy_window_size(master)
    with _raw(stdin):
        yield


@contextlib.contextmanager
def _raw(stdin: int | None) -> Iterator[None]:
    """Our terminal in raw mode (each key as typed, for the container's terminal to echo)."""
    if stdin is None or not os.isatty(stdin):
        yield
        return
    import termios
    import tty as _tty

    saved = termios.tcgetattr(stdin)
    _tty.setraw(stdin, termios.TCSANOW)  # (no flush: what was typed ahead still counts)
    try:
        yield
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)


def attach_later(sock: socket.socket, pid: int, stdout: BinaryIO, stderr: BinaryIO, *,
                 stdin: int | None, tty: bool, detach_keys: bytes, sig_proxy: bool
                 ) -> int | None:
    """``lamina attach``: the container's output from now on, what is typed to it, until it
    ends (its exit code) or the detach keys are typed, or the monitor goes (None)."""
    from lamina.runtime.attach_point import EXIT, PACKET, STDERR, STDIN, resize_message
    from lamina.runtime.detach import Matcher

    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    if stdin is not None:
        os.set_blocking(stdin, False)
        selector.register(stdin, selectors.EVENT_READ)
    matcher = Matcher(detach_keys)

    def send_size(signum: int = 0, frame: FrameType | None = None) -> None:
        import termios

        with contextlib.suppress(OSError, struct.error):
            size = fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ,
                               struct.pack("HHHH", 0, 0, 0, 0))
            rows, cols = struct.unpack("HHHH", size)[:2]
            sock.send(resize_message(rows, cols))

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {}
    if tty:
        send_size()
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, send_size)
    elif sig_proxy:  # (with a terminal, Ctrl-C and the rest travel as keystrokes)
        for sig in FORWARDED:
            previous[sig] = signal.signal(sig, forward)
    try:
        with _raw(stdin if tty else None):
            while True:
                for key, _ in selector.select():
                    if key.fileobj is sock:
                        try:
                            packet = sock.recv(PACKET)
                        except OSError:
                            packet = b""
                        if not packet:
                            return None
                        kind, data = packet[:1], packet[1:]
                        if kind == EXIT:
                            return int(data)
                        target = stderr if kind == STDERR else stdout
                        target.write(data)
                        target.flush()
                        continue
                    assert stdin is not None
                    try:
                        typed = os.read(stdin, 1 << 16)
                    except BlockingIOError:
                        continue
                    if not typed:  # end of input: the container's stdin stays open
                        selector.unregister(stdin)
                        continue
                    passed = matcher.feed(typed)
                    if passed:
                        with contextlib.suppress(OSError):
                            sock.sendall(STDIN + passed)
                    if matcher.detached:
                        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        selector.close()
        sock.close()
