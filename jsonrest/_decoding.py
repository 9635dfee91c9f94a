"""Bounded gzip and deflate decoding, so that `max_body` bounds memory too.

httpx decodes each chunk it reads whole: 64 KiB of a gzip bomb becomes 64 MiB
before anyone can count it. A `Decoder` gives a chunk's output in pieces of
256 KiB and stops at the limit it is given, so a body past `max_body` is
refused having cost about `max_body` of memory. Only a single gzip or deflate
coding is taken over; anything else (no coding, br, zstd, chains) is left to
httpx, which decodes it as before.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

__all__ = ["STEP", "Decoder", "decoder_for"]

#: The most decoded at once: memory grows by this much past what is kept.
STEP = 256 * 1024

_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


def decoder_for(content_encoding: str | None) -> Decoder | None:
    """A `Decoder` for a body coded as `content_encoding`, or None for httpx's."""
    if not content_encoding:
        return None
    codings = [
        coding
        for coding in (part.strip().lower() for part in content_encoding.split(","))
        if coding and coding != "identity"
    ]
    if len(codings) != 1 or codings[0] not in _WBITS:
        return None
    return Decoder(codings[0])


class Decoder:
    """Undoes one gzip or deflate coding, chunk by chunk, within a bound.

    Errors are `httpx.DecodingError`, as httpx's own decoders raise. As with
    httpx, "deflate" may be raw deflate as well as the zlib format it names.
    """

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._zlib = zlib.decompressobj(_WBITS[coding])
        self._first = coding == "deflate"  # raw deflate is tried on failure

    def decode(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Decode `data` in pieces of at most `STEP` bytes, `limit` in all.

        Stopping at `limit` may leave input undecoded: the body is at least
        that large, which the caller refuses.
        """
        first, self._first = self._first, False
        while limit > 0:
            try:
                piece = self._zlib.decompress(data, min(limit, STEP))
            except zlib.error as exc:
                if not first:
                    raise httpx.DecodingError(
                        f"invalid {self.coding} body: {exc}"
                    ) from exc
                # Not the zlib format that "deflate" names: raw deflate, which
                # many servers send under that name.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                first = False
                continue
            first = False
            limit -= len(piece)
            yield piece
            data = self._zlib.unconsumed_tail
            if not data:
                return

    def flush(self) -> bytes:
        """What remains once every chunk is decoded (little: all input is in)."""
        try:
            return self._zlib.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(f"invalid {self.coding} body: {exc}") from exc
