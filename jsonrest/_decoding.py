"""Bounded gzip and deflate decoding, so that `max_body` bounds memory too.

httpx decodes each chunk it reads whole: 64 KiB of a gzip bomb becomes 64 MiB
before anyone can count it, and a chain such as ``gzip, gzip`` multiplies that
again. A `Decoder` undoes any chain of gzip, x-gzip and deflate codings in
pieces of at most `STEP` bytes, each stage handing its pieces to the next as
they come, and stops at the limit it is given: a body past `max_body` is
refused having cost about `max_body` of memory and as little work.

Codings jsonrest cannot bound (br, zstd, anything unknown) are refused by
`decoder_for`; a caller with no limit leaves them to httpx instead.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterable, Iterator

import httpx

__all__ = ["MAX_CODINGS", "STEP", "Decoder", "codings", "decoder_for"]

#: The most decoded at once: memory grows by a few of these past what is kept.
STEP = 256 * 1024

#: The longest chain decoded. Each stage holds a piece or two in flight, so a
#: header naming a thousand codings must not make a thousand stages.
MAX_CODINGS = 4

#: How far an inner stage's output may outrun the body it decodes to: `_AHEAD`
#: bytes plus `_RATIO` times the body so far. Coded data is rarely larger than
#: what it codes (a server flushing after every byte makes it 7 times larger,
#: after every 10 bytes smaller already), but a stream of empty blocks decodes
#: to nothing at all, and would otherwise let a chain cost work without bound
#: while no byte of the body appears.
_AHEAD = 4 * STEP
_RATIO = 4

_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


def codings(content_encoding: str | None) -> list[str]:
    """The codings a `Content-Encoding` value names, in the order applied.

    Lowercased, without "identity" (which changes nothing). Repeated header
    lines arrive from httpx joined with commas, which this reads the same way.
    """
    if not content_encoding:
        return []
    parts = (part.strip().lower() for part in content_encoding.split(","))
    return [part for part in parts if part and part != "identity"]


def decoder_for(content_encoding: str | None) -> Decoder | None:
    """A `Decoder` for a body coded as `content_encoding`; None for no coding.

    Raises `httpx.DecodingError` for a coding that cannot be decoded within a
    bound (br, zstd, anything unknown) and for a chain past `MAX_CODINGS`. Only
    a caller with a limit asks: without one, httpx decodes as it always has.
    """
    names = codings(content_encoding)
    if not names:
        return None
    unbounded = [name for name in names if name not in _WBITS]
    if unbounded:
        raise httpx.DecodingError(
            f"content-encoding {', '.join(map(repr, unbounded))} cannot be decoded"
            " within max_body: jsonrest bounds only gzip, x-gzip and deflate"
            " (with max_body=None, httpx handles the body unbounded)"
        )
    if len(names) > MAX_CODINGS:
        raise httpx.DecodingError(
            f"content-encoding {content_encoding!r} chains {len(names)} codings;"
            f" jsonrest decodes at most {MAX_CODINGS} within max_body"
        )
    return Decoder(*names)


class Decoder:
    """Undoes a chain of gzip and deflate codings, chunk by chunk, within a bound.

    `codings` are named in the order they were applied, as `Content-Encoding`
    lists them; they are undone in reverse. Errors are `httpx.DecodingError`,
    as httpx's own decoders raise. As with httpx, "deflate" may be raw deflate
    as well as the zlib format it names, and data after the end of a coded
    stream is ignored.
    """

    def __init__(self, *codings: str) -> None:
        if not codings:
            raise ValueError("a Decoder needs at least one coding")
        self.codings = codings
        self._stages = [_Stage(coding) for coding in reversed(codings)]
        self._size = 0  # bytes of body decoded so far, by the last stage

    def __repr__(self) -> str:
        return f"Decoder({', '.join(map(repr, self.codings))})"

    def decode(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Decode `data` in pieces of at most `STEP` bytes, `limit` in all.

        Each stage decodes lazily, only as the next asks for more, so stopping
        at `limit` stops the whole chain. That may leave input undecoded: the
        body is then at least `limit` large, which the caller refuses.
        """
        return self._through(0, (data,), limit)

    def flush(self, limit: int = sys.maxsize) -> bytes:
        """What remains once every chunk is decoded, at most `limit` bytes.

        Little or nothing: each stage gives all it can as input arrives.
        """
        out = []
        for index, stage in enumerate(self._stages):
            for piece in self._through(index + 1, stage.flush(), limit):
                limit -= len(piece)
                out.append(piece)
        return b"".join(out)

    def _through(
        self, start: int, pieces: Iterable[bytes], limit: int
    ) -> Iterator[bytes]:
        """`pieces` decoded by the stages from `start` on, `limit` bytes at most."""
        if start == len(self._stages):  # the last stage's own flush
            yield from self._counted(pieces, limit)
            return
        *inner, last = self._stages[start:]
        for stage in inner:
            pieces = self._ahead(stage, pieces)
        for data in pieces:
            for piece in last.decode(data, limit):
                limit -= len(piece)
                self._size += len(piece)
                yield piece
            if limit <= 0:
                return

    def _counted(self, pieces: Iterable[bytes], limit: int) -> Iterator[bytes]:
        """Pieces of body (the last stage's flush), `limit` bytes at most."""
        for piece in pieces:
            if limit <= 0:
                return
            piece = piece[:limit]
            limit -= len(piece)
            self._size += len(piece)
            yield piece

    def _ahead(self, stage: _Stage, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """An inner stage's output, refused once it outruns the body (`_AHEAD`)."""
        for data in pieces:
            for piece in stage.decode(data, sys.maxsize):
                stage.size += len(piece)
                if stage.size > _RATIO * self._size + _AHEAD:
                    raise httpx.DecodingError(
                        f"invalid {', '.join(self.codings)} body: its"
                        f" {stage.coding} coding gave {stage.size} bytes that"
                        f" decode to only {self._size}"
                    )
                yield piece


class _Stage:
    """One gzip or deflate coding, undone in pieces of at most `STEP` bytes."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.size = 0  # bytes given so far (counted by the Decoder)
        self._zlib = zlib.decompressobj(_WBITS[coding])
        # "deflate" is the zlib format or, from many servers, raw deflate: its
        # first two bytes tell which, so they are held until both are in.
        self._head: bytes | None = b"" if coding == "deflate" else None

    def decode(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Decode `data`, `limit` bytes at most; all it can unless stopped there.

        Every piece zlib can give from the input so far is given: a full piece
        may leave output pending, so zlib is asked again until it falls short.
        """
        if self._head is not None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            self._head = None
            if not _zlib_header(data):
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        while limit > 0 and not self._zlib.eof:
            # Past the end of the stream zlib keeps whatever it is given in
            # `unused_data`: hence the `eof` test, as httpx ignores it too.
            step = min(limit, STEP)
            try:
                piece = self._zlib.decompress(data, step)
            except zlib.error as exc:
                raise httpx.DecodingError(f"invalid {self.coding} body: {exc}") from exc
            data = self._zlib.unconsumed_tail
            if piece:
                limit -= len(piece)
                yield piece
            if not data and len(piece) < step:
                return

    def flush(self) -> Iterator[bytes]:
        """The end of the input: whatever zlib still holds (little, if anything)."""
        # A lone byte held in `_head` is a truncated stream, which zlib ends
        # without error (and httpx with it): it is dropped the same way.
        if self._zlib.eof:
            return
        try:
            rest = self._zlib.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(f"invalid {self.coding} body: {exc}") from exc
        for start in range(0, len(rest), STEP):
            yield rest[start : start + STEP]


def _zlib_header(data: bytes) -> bool:
    """Whether `data` starts as the zlib format does (RFC 1950), no dictionary."""
    cmf, flg = data[0], data[1]
    return (
        cmf & 0x0F == 8
        and cmf >> 4 <= 7
        and not flg & 0x20
        and (cmf << 8 | flg) % 31 == 0
    )
