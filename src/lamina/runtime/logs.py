"""Container logs in docker's json-file format: one JSON object per line of output.

``{"log":"hello\\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}``. Output is cut
at newlines; a line longer than 16 KiB is written in pieces, as docker does, the last piece
of a line ending with ``\\n``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

MAX_LINE = 16 * 1024


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 with nanoseconds, UTC, as Go's time.RFC3339Nano (trailing zeros dropped)."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 10**9)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


class LogWriter:
    """Appends a container's output to its json-file log."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.partial: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        buffered = self.partial.pop(stream, b"") + data
        lines = []
        while True:
            cut = buffered.find(b"\n")
            if cut < 0:
                break
            lines.append(buffered[: cut + 1])
            buffered = buffered[cut + 1 :]
        while len(buffered) >= MAX_LINE:
            lines.append(buffered[:MAX_LINE])
            buffered = buffered[MAX_LINE:]
        if buffered:
            self.partial[stream] = buffered
        self._emit(stream, lines)

    def flush(self, stream: str | None = None) -> None:
        for name in [stream] if stream else list(self.partial):
            rest = self.partial.pop(name, b"")
            if rest:
                self._emit(name, [rest])

    def _emit(self, stream: str, lines: list[bytes]) -> None:
        if not lines:
            return
        now = timestamp()
        out = "".join(
            json.dumps({"log": line.decode("utf-8", "replace"), "stream": stream, "time": now},
                       ensure_ascii=False, separators=(",", ":")) + "\n"
            for line in lines
        ).encode()
        while out:
            out = out[os.write(self.fd, out):]

    def close(self) -> None:
        self.flush()
        os.close(self.fd)


class LogEntry(NamedTuple):
    """One json-file log line: its stream (stdout, stderr), text and RFC 3339 time."""

    stream: str
    text: str
    time: str


def read_entries(path: Path, *, start: int = 0) -> tuple[list[LogEntry], int]:
    """The complete entries from byte offset ``start``; and the offset after the last one."""
    try:
        with path.open("rb") as f:
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return [], start
    end = data.rfind(b"\n") + 1
    entries = []
    for line in data[:end].splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            entries.append(LogEntry(str(obj.get("stream", "stdout")), str(obj.get("log", "")),
                                    str(obj.get("time", ""))))
    return entries, start + end


def tail(entries: list[LogEntry], count: str) -> list[LogEntry]:
    """``--tail``: "all" or a number of lines from the end."""
    if count in ("all", ""):
        return entries
    try:
        n = int(count)
    except ValueError:
        return entries
    if n < 0:
        return entries
    return entries[-n:] if n else []


def follow(path: Path, start: int, running: Callable[[], bool],
           interval: float = 0.05) -> Iterator[LogEntry]:
    """Entries from ``start`` on, as they are written, until the container stops."""
    offset = start
    while True:
        entries, offset = read_entries(path, start=offset)
        yield from entries
        if not entries:
            if not running():
                entries, offset = read_entries(path, start=offset)
                yield from entries
                return
            time.sleep(interval)
