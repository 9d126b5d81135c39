"""Small raw readers that the image sources share: a peeked-at stream made whole again, and a
stream over an iterator of chunks (a download, a partial blob then the network)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO


class Prefixed(io.RawIOBase):
    """``head`` followed by the rest of ``stream``: how we peek at magic bytes of a pipe."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            return int(readinto(b) or 0)
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)


class ChunkReader(io.RawIOBase):
    """The bytes of an iterator of chunks as a stream. Whatever the iterator raises (a digest
    check at its end, a cancelled download) reaches the reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def prime(self) -> None:
        """Take the first chunk now (the reader still gets it): whatever the iterator does
        before its first chunk (open a connection, send a request) starts here."""
        if not self._buffer:
            self._buffer = memoryview(next(self._chunks, b""))

    def drain(self) -> None:
        """Run the iterator to its end, unread bytes dropped (so its end-of-stream checks run)."""
        for _ in self._chunks:
            pass
        self._buffer = memoryview(b"")
