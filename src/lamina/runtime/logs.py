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
from typing import Any, BinaryIO, NamedTuple

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
    """Appends a container's output to its json-file log; with ``max_size``, the log is
    rotated before it would grow past it (``<log>.1`` the newest of the ``max_files - 1``
    older files kept, as docker's json-file driver does)."""

    def __init__(self, path: Path, *, max_size: int = 0, max_files: int = 1,
                 discard: bool = False) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.discard = discard  # --log-driver none: output is not kept
        self.fd = -1 if discard else self._open()
        self.size = 0 if discard else os.fstat(self.fd).st_size
        self.partial: dict[str, bytes] = {}

    @classmethod
    def of(cls, path: Path, config: dict[str, Any] | None) -> LogWriter:
        """The writer a container's LogConfig asks for (json-file or local; none)."""
        config = config or {}
        options = config.get("Config") or {}
        max_size = size_in_bytes(str(options.get("max-size") or "0"))
        return cls(path, max_size=max_size, max_files=int(options.get("max-file") or 1),
                   discard=config.get("Type") == "none")

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)

    def _rotate(self) -> None:
        os.close(self.fd)
        if self.max_files > 1:
            for n in range(self.max_files - 1, 0, -1):
                older = rotated(self.path, n - 1)
                if older.exists():
                    os.replace(older, rotated(self.path, n))
        else:
            self.path.unlink(missing_ok=True)
        self.fd = self._open()
        self.size = 0

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
        if not lines or self.discard:
            return
        now = timestamp()
        records = [
            (json.dumps({"log": line.decode("utf-8", "replace"), "stream": stream, "time": now},
                        ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            for line in lines
        ]
        if not self.max_size:
            self._write(b"".join(records))
            return
        batch: list[bytes] = []
        batch_size = 0
        for record in records:  # rotated between records, never inside one
            if self.size + batch_size + len(record) > self.max_size and \
                    self.size + batch_size > 0:
                self._write(b"".join(batch))
                batch, batch_size = [], 0
                self._rotate()
            batch.append(record)
            batch_size += len(record)
        self._write(b"".join(batch))

    def _write(self, out: bytes) -> None:
        self.size += len(out)
        while out:
            out = out[os.write(self.fd, out):]

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)


def size_in_bytes(text: str) -> int:
    """A max-size as docker writes one (``10m``, ``512k``, ``1g``: binary multiples); the
    engine checked it when the container was created."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*", text.lower())
    if match is None:
        return 0
    return int(float(match.group(1)) * 1024 ** " kmgtp".index(match.group(2) or " "))


def rotated(path: Path, n: int) -> Path:
    """The log, or (n > 0) its n-th older rotated file."""
    return path if n == 0 else path.with_name(f"{path.name}.{n}")


def read_all(path: Path) -> tuple[list[LogEntry], int]:
    """Every entry kept, the rotated files' first (oldest first); and the current file's
    offset after its last complete entry."""
    entries: list[LogEntry] = []
    n = 1
    while rotated(path, n).exists():
        n += 1
    for k in range(n - 1, 0, -1):
        entries += read_entries(rotated(path, k))[0]
    current, offset = read_entries(path)
    return entries + current, offset


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
    return parse_entries(data[:end]), start + end


def parse_entries(data: bytes) -> list[LogEntry]:
    """The entries of complete json-file lines."""
    entries = []
    for line in data.splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            entries.append(LogEntry(str(obj.get("stream", "stdout")), str(obj.get("log", "")),
                                    str(obj.get("time", ""))))
    return entries


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


class Follower:
    """``logs -f``: every entry kept, then each new one as it is written, until the container
    stops. The current file is read through a descriptor held open from the start, so that
    a rotation (the monitor renames or removes the log and starts a new one) loses nothing:
    the old file is read to its end before the new one is taken up, then the files rotated
    in between (while they are kept), oldest first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = _open_log(path)
        self.pending = b""
        # the rotated files read, by inode and modification time: a rotated file is final
        # (the monitor closes it before renaming it), and an inode freed by a removed file
        # may be taken by a new one, which the time tells apart
        self.seen: set[tuple[int, int]] = set()

    def read_all(self) -> list[LogEntry]:
        """The rotated files older than the held one, then the held file's entries (newer
        ones, rotated meanwhile, are read when the held one is left)."""
        entries = self._unseen_rotated(older_only=True)
        if self.held is not None:
            entries += self._read_held()
        return entries

    def _unseen_rotated(self, *, older_only: bool = False,
                        taken: BinaryIO | None = None) -> list[LogEntry]:
        """The rotated files not read yet, oldest first; never the held file nor ``taken``
        (the new current file, open: read from its start once held). ``older_only``: stop
        at the held file."""
        skip = {_inode(f) for f in (self.held, taken) if f is not None}
        entries: list[LogEntry] = []
        n = 1
        while rotated(self.path, n).exists():
            n += 1
        for k in range(n - 1, 0, -1):
            older = _open_log(rotated(self.path, k))
            if older is None:
                continue
            with older:
                if _inode(older) in skip:
                    if older_only and self.held is not None and \
                            _inode(older) == _inode(self.held):
                        break
                    continue
                key = _identity(older)
                if key not in self.seen:
                    self.seen.add(key)
                    entries += _drain(older, b"")
        return entries

    def _read_held(self) -> list[LogEntry]:
        assert self.held is not None
        data = self.pending + self.held.read()
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        return parse_entries(data[:cut])

    def follow(self, running: Callable[[], bool], interval: float = 0.05
               ) -> Iterator[LogEntry]:
        while True:
            if self.held is not None:
                entries = self._read_held()
                if entries:
                    yield from entries
                    continue
            rest = self._switch()
            if rest is not None:
                yield from rest
                continue
            if not running():  # the last of what it wrote, even past a last rotation
                if self.held is not None:
                    yield from self._read_held()
                rest = self._switch()
                if rest is not None:
                    yield from rest
                    yield from self._read_held()
                return
            time.sleep(interval)

    def _switch(self) -> list[LogEntry] | None:
        """Take up the new log if the held one was rotated: the held one's last entries
        (read to its end, final now: the monitor writes to the new one only), then those of
        the files rotated since; None if it was not rotated."""
        newer = _open_log(self.path)
        if newer is None:
            return None
        if self.held is not None and _inode(newer) == _inode(self.held):
            newer.close()
            return None
        rest: list[LogEntry] = []
        if self.held is not None:
            rest = self._read_held()
            self.seen.add(_identity(self.held))
        rest += self._unseen_rotated(taken=newer)
        if self.held is not None:
            self.held.close()
        self.held, self.pending = newer, b""
        return rest

    def close(self) -> None:
        if self.held is not None:
            self.held.close()
            self.held = None


def _drain(held: BinaryIO, pending: bytes) -> list[LogEntry]:
    data = pending + held.read()
    return parse_entries(data[:data.rfind(b"\n") + 1])


def _open_log(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _inode(f: BinaryIO) -> int:
    return os.fstat(f.fileno()).st_ino


def _identity(f: BinaryIO) -> tuple[int, int]:
    st = os.fstat(f.fileno())
    return st.st_ino, st.st_mtime_ns


def entry_time(entry: LogEntry) -> float:
    """An entry's time, epoch seconds (0 when it has none that reads)."""
    import calendar

    text = entry.time
    if not text.endswith("Z") or len(text) < 20:
        return 0.0
    try:
        base = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    fraction = text[19:-1]
    return base + (float("0" + fraction) if fraction.startswith(".") else 0.0)


def within(entry: LogEntry, since: float | None, until: float | None) -> bool:
    """docker logs --since/--until: since inclusive, until exclusive."""
    if since is None and until is None:
        return True
    at = entry_time(entry)
    return (since is None or at >= since) and (until is None or at < until)
