"""The small stream helpers of lamina.image.streams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lamina.image.streams import ChunkReader


def test_a_primed_chunk_reader_has_started_its_iterator_and_loses_nothing() -> None:
    started: list[bool] = []

    def chunks() -> Iterator[bytes]:
        started.append(True)  # a download sends its request here
        yield b"first "
        yield b"second"

    reader = ChunkReader(chunks())
    assert started == []
    reader.prime()
    reader.prime()  # a second time takes nothing more
    assert started == [True]
    assert reader.read(3) == b"fir"
    assert reader.read() == b"st second"


def test_priming_raises_what_the_iterator_raises() -> None:
    def failing() -> Iterator[bytes]:
        raise OSError("connection refused")
        yield b""  # pragma: no cover

    with pytest.raises(OSError, match="refused"):
        ChunkReader(failing()).prime()
    empty = ChunkReader(iter([]))
    empty.prime()
    assert empty.read() == b""
