"""Attaching to a running container later (``lamina attach``): the monitor's side and the
command's side of one unix socket, ``attach.sock`` in the container's directory.

The monitor listens while the container runs. Each command that connects receives the
container's output from then on (the log keeps everything before), may send what is typed to
the container's stdin (when it was created with ``-i``) or its terminal, and the terminal's
size; when the container ends, it hears the exit code. Messages are SOCK_SEQPACKET packets:
one byte saying what follows, then the bytes.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

NAME = "attach.sock"
STDIN, STDOUT, STDERR, RESIZE, EXIT = b"0", b"1", b"2", b"4", b"9"
STREAMS = {"stdout": STDOUT, "stderr": STDERR}
PACKET = (1 << 16) + 1
SEND_TIMEOUT = 10.0  # a command that reads nothing for this long is let go


class AttachPoint:
    """The monitor's listening socket and the commands attached to it."""

    def __init__(self, directory: Path) -> None:
        # Bound by a name relative to the container's directory: a full path may exceed the
        # 108 bytes a socket's address holds.
        self.path = directory / NAME
        self.path.unlink(missing_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.chdir(directory)
            self.listener.bind(NAME)
        finally:
            os.fchdir(cwd)
            os.close(cwd)
        os.chmod(self.path, 0o600)
        self.listener.listen(8)
        self.listener.setblocking(False)
        self.clients: list[socket.socket] = []
        # told of each command let go, before its socket closes (the monitor's selector)
        self.forget: Callable[[socket.socket], None] = lambda conn: None

    def fileno(self) -> int:
        return self.listener.fileno()

    def accept(self) -> socket.socket | None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return None
        conn.settimeout(SEND_TIMEOUT)
        self.clients.append(conn)
        return conn

    def receive(self, conn: socket.socket) -> tuple[bytes, bytes] | None:
        """One message of an attached command (kind, data); None when it left."""
        try:
            data = conn.recv(PACKET)
        except OSError:
            data = b""
        if not data:
            self.drop(conn)
            return None
        return data[:1], data[1:]

    def broadcast(self, stream: str, data: bytes) -> None:
        kind = STREAMS.get(stream, STDOUT)
        for conn in list(self.clients):
            self._send(conn, kind + data)

    def _send(self, conn: socket.socket, packet: bytes) -> None:
        try:
            conn.sendall(packet)
        except OSError:  # gone, or not reading: the container does not wait for it
            self.drop(conn)

    def drop(self, conn: socket.socket) -> None:
        if conn in self.clients:
            self.clients.remove(conn)
            self.forget(conn)
        with suppress(OSError):
            conn.close()

    def close(self, exit_code: int | None) -> None:
        """The container ended: tell each attached command its exit code, and stop."""
        for conn in list(self.clients):
            if exit_code is not None:
                self._send(conn, EXIT + str(exit_code).encode())
            self.drop(conn)
        with suppress(OSError):
            self.listener.close()
        self.path.unlink(missing_ok=True)


def resize_message(rows: int, cols: int) -> bytes:
    return RESIZE + struct.pack("HH", rows, cols)


def apply_resize(fd: int, data: bytes) -> None:
    """A RESIZE message's size, set on the container's terminal."""
    import fcntl
    import termios

    if len(data) != 4:
        return
    rows, cols = struct.unpack("HH", data)
    with suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def connect(directory: Path) -> socket.socket | None:
    """Connect to a running container's monitor; None when it does not listen (any more)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        sock.close()
        return None
    try:  # (through the directory's descriptor: the path may be longer than an address)
        sock.connect(f"/proc/self/fd/{fd}/{NAME}")
    except OSError:
        sock.close()
        return None
    finally:
        os.close(fd)
    return sock
