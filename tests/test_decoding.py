"""Bounded gzip and deflate decoding: pure functions, no sockets."""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib

import httpx
import pytest

from jsonrest._decoding import STEP, Decoder, decoder_for

DATA = os.urandom(3000) + bytes(100_000) + b'{"a": [1, 2, 3]}' * 500


def decode(decoder: Decoder, data: bytes, chunk: int, limit: int) -> bytes:
    """Feed `data` in pieces of `chunk` bytes, as a stream would."""
    out = b"".join(
        piece
        for i in range(0, len(data), chunk)
        for piece in decoder.decode(data[i : i + chunk], limit)
    )
    return out + decoder.flush()


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        ("gzip", "gzip"),
        ("x-gzip", "x-gzip"),
        ("GZip ", "gzip"),
        ("identity, gzip", "gzip"),
        ("deflate", "deflate"),
    ],
)
def test_a_single_gzip_or_deflate_coding_is_decoded_here(
    header: str, coding: str
) -> None:
    decoder = decoder_for(header)
    assert decoder is not None
    assert decoder.coding == coding


@pytest.mark.parametrize(
    "header", [None, "", "identity", "br", "zstd", "bogus", "gzip, gzip", "gzip, br"]
)
def test_everything_else_is_left_to_httpx(header: str | None) -> None:
    assert decoder_for(header) is None


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_gzip_round_trips_in_any_chunking(chunk: int) -> None:
    decoder = Decoder("gzip")
    assert decode(decoder, gzip.compress(DATA), chunk, len(DATA) + 1) == DATA


@pytest.mark.parametrize(
    "packed",
    [zlib.compress(DATA), zlib.compress(DATA)[2:-4]],  # zlib format, raw deflate
    ids=["zlib", "raw"],
)
def test_deflate_accepts_the_zlib_format_and_raw_deflate(packed: bytes) -> None:
    assert decode(Decoder("deflate"), packed, 1000, len(DATA) + 1) == DATA


def test_a_limit_reached_mid_chunk_resumes_with_the_next_call() -> None:
    # Only the whole body's limit ends decoding: a chunk worth more than STEP
    # is decoded in several pieces, its undecoded rest kept for the next one.
    packed = gzip.compress(bytes(3 * STEP))
    assert decode(Decoder("gzip"), packed, len(packed), 3 * STEP + 1) == bytes(3 * STEP)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_bad_body_is_a_decoding_error(coding: str) -> None:
    with pytest.raises(httpx.DecodingError, match=f"invalid {coding} body"):
        decode(Decoder(coding), b"\xff" * 64, 16, 1000)


def test_decoding_stops_at_its_limit_in_small_pieces() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = packer.compress(bytes(256 << 20)) + packer.flush()  # 256 MiB of zeros
    decoder = Decoder("gzip")
    limit = (1 << 20) + 1  # the caller's max_body, and a byte to say "too large"
    sizes = []
    tracemalloc.start()
    try:
        for piece in decoder.decode(bomb[: 64 * 1024], limit):
            sizes.append(len(piece))  # each piece is dropped as the next comes
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(sizes) == limit
    assert max(sizes) <= STEP
    assert peak < 2 * STEP + (1 << 20)  # not the 64 MiB of zeros it holds
