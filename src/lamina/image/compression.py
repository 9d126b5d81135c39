"""Streamed compression and decompression of layer blobs (gzip, zstd, none).

Layers come from registries and archives, so they are hostile until checked: a reader made by
``open_decompressed`` never yields more than ``max_size`` uncompressed bytes (a zip bomb stops
at the bound, after at most one bounded block of output, not after expanding), and corrupt or
truncated input raises one IntegrityError line.

The compression is found from the first bytes, as docker and containerd do, whatever the media
type says: some tools label plain tars ``.tar.gzip``, and a layer's bytes are already checked
against its digest before we read them, so the label adds no safety. The media type is only used
to refuse compressions lamina does not read (``+bzip2``, encrypted layers).

``compress_gzip`` and ``compress_zstd`` make layers, hashing the uncompressed input (diff_id) and
the compressed output (blob digest) in the same pass.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import queue
import threading
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Final, cast

from lamina.errors import IntegrityError, LaminaError, StorageError, Unsupported
from lamina.image.streams import Prefixed
from lamina.model.digest import Digest, Hasher
from lamina.model.limits import LayerLimits

GZIP: Final = "gzip"
ZSTD: Final = "zstd"
NONE: Final = "none"

CHUNK: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
# Formats docker can detect but the OCI spec does not allow for layers: refused by name.
_OTHER_MAGIC: Final = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}

# Level 1 of ISA-L: on layer-like data (binaries, text) it compresses within a few percent of
# zlib level 1 at several times the speed, and building a layer is on the critical path of
# commit and build. Registries and peers read any gzip, so the level is ours to choose.
GZIP_LEVEL: Final = 1
ZSTD_LEVEL: Final = 3


def compression_of(media_type_or_compression: str | None) -> str | None:
    """``gzip``, ``zstd`` or ``none`` for a name or a layer media type; None if it says nothing.

    Raises Unsupported for a compression or layer encoding lamina cannot read.
    """
    value = (media_type_or_compression or "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in (GZIP, ZSTD, NONE):
        return value
    if value in ("identity", "uncompressed"):
        return NONE
    base = value.split(";", 1)[0]
    if base.endswith(("+gzip", ".tar.gzip", ".tar.gz")):
        return GZIP
    if base.endswith(("+zstd", ".tar.zstd")):
        return ZSTD
    if base.endswith((".tar", "+tar")) or base == "application/octet-stream":
        return None
    raise Unsupported(f"unsupported layer compression or media type {media_type_or_compression!r}")


def detect(head: bytes) -> str:
    """The compression of a stream starting with ``head`` (at least 6 bytes unless shorter)."""
    if head.startswith(_GZIP_MAGIC):
        return GZIP
    if head.startswith(_ZSTD_MAGIC):
        return ZSTD
    for magic, name in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise Unsupported(f"layer is compressed with {name}, which OCI images may not use")
    return NONE


def _read_head(stream: BinaryIO, n: int = 6) -> bytes:
    head = b""
    while len(head) < n:
        data = stream.read(n - len(head))
        if not data:
            break
        head += data
    return head


class DecompressedReader(io.RawIOBase):
    """A bounded, streamed reader of a layer's uncompressed bytes.

    ``size`` counts the bytes produced so far. Errors of the codec are turned into one-line
    IntegrityErrors; errors of the source stream (a LaminaError) pass through unchanged.
    """

    def __init__(
        self,
        inner: io.RawIOBase | io.BufferedIOBase | BinaryIO,
        compression: str,
        max_size: int | None,
        source: Counted | None = None,
        limits: LayerLimits | None = None,
    ) -> None:
        self._inner = inner
        self.compression = compression
        self.max_size = max_size
        self.size = 0
        self._source = source  # the compressed bytes, counted: for the ratio
        self._limits = limits

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            n = self._inner.readinto(b)  # type: ignore[union-attr]
        except LaminaError:
            raise
        except EOFError as exc:
            raise IntegrityError(
                f"layer is truncated: {self.compression} stream ended early"
            ) from exc
        except (OSError, ValueError, zlib.error) as exc:
            raise self._codec_error(exc) from exc
        n = int(n or 0)
        self.size += n
        if self.max_size is not None and self.size > self.max_size:
            raise IntegrityError(f"layer exceeds {self.max_size} bytes uncompressed")
        limits, source = self._limits, self._source
        if (limits is not None and source is not None and limits.max_ratio
                and self.size > limits.ratio_after
                and self.size > limits.max_ratio * max(1, source.count)):
            raise IntegrityError(
                f"layer expands more than {limits.max_ratio} times its compressed size "
                f"({source.count} bytes to more than {self.size}): refused as a "
                "decompression bomb (the limit is max_ratio in config.toml [layers])")
        return n

    def _codec_error(self, exc: Exception) -> LaminaError:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno:
            return StorageError(f"cannot read layer: {exc.strerror or exc}")
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return IntegrityError(f"layer is not valid {self.compression}: {detail}")

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        buf = bytearray(size)
        n = self.readinto(buf)
        del buf[n:]
        return bytes(buf)

    def readall(self) -> bytes:
        parts = []
        while data := self.read(CHUNK):
            parts.append(data)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                super().close()


def open_decompressed(
    stream: BinaryIO, media_type_or_compression: str | None = None, max_size: int | None = None
) -> DecompressedReader:
    """A reader of the uncompressed bytes of ``stream``, which must not exceed ``max_size``.

    ``media_type_or_compression`` is a layer media type, ``gzip``/``zstd``/``none`` or None; the
    compression itself is detected from the magic bytes (see the module docstring). Gzip is read
    by ISA-L in a worker thread, so inflating overlaps with the caller's work (hashing, writing
    files); the worker never runs more than two 1 MiB blocks ahead of the reader.
    """
    return _open(stream, media_type_or_compression, max_size, threaded=True)


def open_hashed(stream: BinaryIO, media_type_or_compression: str | None, max_size: int | None,
                algorithm: str, limits: LayerLimits | None = None) -> LayerReader:
    """``open_decompressed``, the uncompressed bytes hashed too (``LayerReader.hasher``): one
    thread decompresses, another hashes, each a few 1 MiB blocks ahead of the reader, which
    gets the bytes of both at the price of one copy."""
    return LayerReader(_open(stream, media_type_or_compression, max_size, threaded=False,
                             limits=limits), Hasher(algorithm))


def _open(stream: BinaryIO, media_type_or_compression: str | None, max_size: int | None, *,
          threaded: bool, limits: LayerLimits | None = None) -> DecompressedReader:
    compression_of(media_type_or_compression)  # refuses unsupported types early
    head = _read_head(stream)
    kind = detect(head)
    source = Counted(Prefixed(head, stream))
    inner: io.RawIOBase | io.BufferedIOBase | BinaryIO
    if kind == GZIP and not threaded:
        from isal import igzip

        # ISA-L's reader inflates straight into the caller's buffer, without the GIL.
        inner = cast(BinaryIO, igzip._IGzipReader(cast(BinaryIO, source), 8 * CHUNK))
    elif kind == GZIP:
        from isal import igzip_threaded

        inner = igzip_threaded.open(source, "rb", threads=1, block_size=CHUNK)
    elif kind == ZSTD:
        inner = _ZstdReader(source)
    else:
        inner = io.BufferedReader(source, CHUNK)
    if limits is not None:
        max_size = limits.max_size if max_size is None else min(max_size, limits.max_size)
    return DecompressedReader(inner, kind, max_size, source, limits)


class Counted(io.RawIOBase):
    """A raw stream that counts the bytes read from it (``count``)."""

    def __init__(self, raw: io.RawIOBase) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = int(self._raw.readinto(b) or 0)
        self.count += n
        return n


AHEAD: Final = 3  # blocks each stage of a LayerReader may get ahead of the next


class LayerReader(io.RawIOBase):
    """The bytes of ``decoder``, made by two threads (see ``open_hashed``): one fills 1 MiB
    blocks from the decoder, one hashes them into ``hasher``; the reader copies them out and
    hands them back. Whatever a thread meets (a corrupt stream, the source's own errors) is
    raised to the reader in order, after the bytes before it. ``close`` stops both threads and
    waits for them, so the source is no longer read once it returns.
    """

    def __init__(self, decoder: DecompressedReader, hasher: Hasher) -> None:
        self._decoder = decoder
        self.hasher = hasher
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(2 * AHEAD + 2):
            self._free.put(bytearray(CHUNK))
        self._made: queue.Queue[memoryview | BaseException | None] = queue.Queue(AHEAD)
        self._hashed: queue.Queue[memoryview | BaseException | None] = queue.Queue(AHEAD)
        self._block = memoryview(b"")
        self._held: bytearray | None = None
        self._end: BaseException | bool | None = False  # what ended the stream, once it has
        self._stopping = False
        self._threads = [threading.Thread(target=self._decompress, name="layer-decompress",
                                          daemon=True),
                         threading.Thread(target=self._hash, name="layer-hash", daemon=True)]
        for thread in self._threads:
            thread.start()

    def readable(self) -> bool:
        return True

    def _decompress(self) -> None:
        item: memoryview | BaseException | None = None
        try:
            while True:
                block = self._free.get()
                n = self._decoder.readinto(block)
                if not n:
                    self._free.put(block)
                    break
                if not self._put(self._made, memoryview(block)[:n]):
                    return
        except BaseException as exc:  # handed over, and raised by the reader
            item = exc
        self._put(self._made, item)

    def _hash(self) -> None:
        while True:
            try:
                item = self._made.get(timeout=0.1)
            except queue.Empty:
                if self._stopping:
                    return
                continue
            if isinstance(item, memoryview):
                self.hasher.update(item)
            if not self._put(self._hashed, item) or not isinstance(item, memoryview):
                return

    def _put(self, into: queue.Queue[memoryview | BaseException | None],
             item: memoryview | BaseException | None) -> bool:
        while not self._stopping:
            try:
                into.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _next(self) -> bool:
        """The next block into ``_block``; False at the end (raising what ended it)."""
        if self._held is not None:
            self._free.put(self._held)
            self._held = None
        if self._end is False:
            item = self._hashed.get()
            if isinstance(item, memoryview):
                self._block = item
                self._held = item.obj  # type: ignore[assignment]
                return True
            self._end = item
        self._block = memoryview(b"")
        if isinstance(self._end, BaseException):
            raise self._end
        return False

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._block and not self._next():
            return 0
        n = min(len(b), len(self._block))
        b[:n] = self._block[:n]
        self._block = self._block[n:]
        return n

    def drain(self) -> None:
        """Read (and so hash) the rest: a tar's trailing padding counts in its diff_id."""
        while self._next():
            pass

    def close(self) -> None:
        if self.closed:
            return
        self._stopping = True
        if self._held is not None:
            self._free.put(self._held)
            self._held = None
        for thread in self._threads:
            while thread.is_alive():
                for q in (self._made, self._hashed):  # room for a blocked put, blocks back
                    with contextlib.suppress(queue.Empty):
                        item = q.get_nowait()
                        if isinstance(item, memoryview):
                            self._free.put(item.obj)  # type: ignore[arg-type]
                thread.join(0.05)
        try:
            self._decoder.close()
        finally:
            super().close()


class _ZstdFrames:
    """Follows zstd's framing (RFC 8878) over the compressed bytes, without decoding them.

    zstandard's stream reader ends quietly on a truncated frame; this tells a complete stream
    from a cut one. Only headers are looked at: a few Python steps per 128 KiB block.
    """

    def __init__(self) -> None:
        self._pending = bytearray()  # bytes of a header being gathered
        self._need = 4  # size of the header being gathered
        self._state = "magic"
        self._skip = 0  # bytes of block content or skippable frame to pass over
        self._checksum = False
        self.frames = 0

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            if self._skip:
                k = min(self._skip, len(view))
                self._skip -= k
                view = view[k:]
                continue
            k = min(self._need - len(self._pending), len(view))
            self._pending += view[:k]
            view = view[k:]
            if len(self._pending) == self._need:
                header, self._pending = bytes(self._pending), bytearray()
                self._step(header)

    def _step(self, header: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(header, "little")
            if magic == 0xFD2FB528:
                self._state, self._need = "fhd", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._need = "skippable", 4
            else:
                raise ValueError("unknown frame descriptor")
        elif state == "skippable":
            self._skip = int.from_bytes(header, "little")
            self._state, self._need = "magic", 4
            self.frames += 1
        elif state == "fhd":
            fhd = header[0]
            single = (fhd >> 5) & 1
            self._checksum = bool((fhd >> 2) & 1)
            fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
            rest = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
            self._state, self._need = "block", 3
            self._skip = rest
        elif state == "block":
            value = int.from_bytes(header, "little")
            kind, size = (value >> 1) & 3, value >> 3
            if kind == 3:
                raise ValueError("reserved block type")
            self._skip = 1 if kind == 1 else size
            if value & 1:  # last block
                self._skip += 4 if self._checksum else 0
                self._state, self._need = "magic", 4
                self.frames += 1

    def complete(self) -> bool:
        return self._state == "magic" and not self._pending and not self._skip and self.frames > 0


class _Tracked(io.RawIOBase):
    """The compressed source, shown to the zstd frame tracker on the way through."""

    def __init__(self, source: io.RawIOBase, frames: _ZstdFrames) -> None:
        self._source = source
        self.frames = frames
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = int(self._source.readinto(b) or 0)
        if n:
            self.frames.feed(memoryview(b)[:n])
        else:
            self.eof = True
        return n


class _ZstdReader(io.RawIOBase):
    """zstandard's reader, with its errors as ValueError and truncation detected."""

    def __init__(self, source: io.RawIOBase) -> None:
        import zstandard

        self._source = _Tracked(source, _ZstdFrames())
        # The window bound keeps a hostile frame from asking for gigabytes of decoder memory.
        decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 28)
        self._reader = decompressor.stream_reader(
            cast(BinaryIO, self._source), read_size=CHUNK, read_across_frames=True
        )

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        import zstandard

        try:
            n = int(self._reader.readinto(b) or 0)
        except zstandard.ZstdError as exc:
            raise ValueError(str(exc).removeprefix("zstd decompress error: ")) from exc
        if not n:
            buf = bytearray(CHUNK)
            while self._source.readinto(buf):
                pass
            if not self._source.frames.complete():
                raise EOFError("zstd stream ended inside a frame")
        return n

    def close(self) -> None:
        self._reader.close()
        super().close()


class HashingReader(io.RawIOBase):
    """Passes reads through and hashes every byte read: one pass, two uses."""

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256") -> None:
        self._stream = stream
        self.hasher = Hasher(algorithm)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            n = int(readinto(b) or 0)
        else:
            data = self._stream.read(len(b))
            n = len(data)
            b[:n] = data
        if n:
            self.hasher.update(memoryview(b)[:n])
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        data = self._stream.read(size)
        self.hasher.update(data)
        return data

    def drain(self) -> None:
        """Read (and hash) the rest of the stream: a tar's trailing padding counts in diff_id."""
        buf = bytearray(CHUNK)
        while self.readinto(buf):
            pass


class HashingWriter(io.RawIOBase):
    """Passes writes through to ``stream`` and hashes every byte written."""

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256") -> None:
        self._stream = stream
        self.hasher = Hasher(algorithm)

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        written = 0
        while written < len(view):
            n = self._stream.write(view[written:])
            written += len(view) - written if n is None else n
        self.hasher.update(view)
        return written

    def flush(self) -> None:
        self._stream.flush()


@dataclass(frozen=True)
class LayerDigests:
    """What making a layer yields: the blob's digest and size, and the tar's diff_id and size."""

    digest: Digest
    size: int
    diff_id: Digest
    diff_size: int


def _pump(src: BinaryIO, sink: BinaryIO, hasher: Hasher) -> None:
    # Fixed 1 MiB chunks (filled whatever the source's read sizes) make the compressed output
    # depend on the input bytes alone, so layers built twice get the same digest.
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        filled = 0
        while filled < CHUNK:
            data = src.read(CHUNK - filled)
            if not data:
                break
            view[filled : filled + len(data)] = data
            filled += len(data)
        if not filled:
            return
        hasher.update(view[:filled])
        sink.write(view[:filled])
        if filled < CHUNK:
            return


def compress_gzip(
    src: BinaryIO, dst: BinaryIO, *, level: int = GZIP_LEVEL, threads: int = 1
) -> LayerDigests:
    """Gzip ``src`` into ``dst``; return the digests of both sides.

    The output depends only on the input and the level, not on ``threads``: ISA-L compresses
    1 MiB blocks, each primed with the previous 32 KiB (as pigz does), with a zero mtime.
    """
    from isal import igzip_threaded

    diff = Hasher()
    out = HashingWriter(dst)
    with igzip_threaded.open(
        out, "wb", compresslevel=level, threads=threads, block_size=CHUNK
    ) as gz:
        _pump(src, gz, diff)
    out.flush()
    return LayerDigests(out.hasher.digest(), out.hasher.size, diff.digest(), diff.size)


def compress_zstd(src: BinaryIO, dst: BinaryIO, *, level: int = ZSTD_LEVEL) -> LayerDigests:
    """Zstd-compress ``src`` into ``dst`` (one frame, with checksum); return both digests."""
    import zstandard

    diff = Hasher()
    out = HashingWriter(dst)
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
    with compressor.stream_writer(cast(BinaryIO, out), closefd=False) as zw:
        _pump(src, cast(BinaryIO, zw), diff)
    out.flush()
    return LayerDigests(out.hasher.digest(), out.hasher.size, diff.digest(), diff.size)


__all__ = [
    "GZIP",
    "NONE",
    "ZSTD",
    "DecompressedReader",
    "HashingReader",
    "HashingWriter",
    "LayerDigests",
    "LayerReader",
    "compress_gzip",
    "compress_zstd",
    "compression_of",
    "detect",
    "open_decompressed",
    "open_hashed",
]
