"""Bounded gzip and deflate decoding, chains included: pure functions, no sockets."""

from __future__ import annotations

import gzip
import os
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import httpx
import pytest

from jsonrest._decoding import MAX_CODINGS, STEP, Decoder, codings, decoder_for

DATA = os.urandom(3000) + bytes(100_000) + b'{"a": [1, 2, 3]}' * 500


def decode(decoder: Decoder, data: bytes, chunk: int, limit: int) -> bytes:
    """Feed `data` in pieces of `chunk` bytes, as a stream would."""
    out = b"".join(
        piece
        for i in range(0, len(data), chunk)
        for piece in decoder.decode(data[i : i + chunk], limit)
    )
    return out + decoder.flush()


def raw_deflate(data: bytes) -> bytes:
    return zlib.compress(data)[2:-4]  # the zlib format without its header, trailer


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("gzip", ("gzip",)),
        ("x-gzip", ("x-gzip",)),
        ("GZip ", ("gzip",)),
        ("identity, gzip", ("gzip",)),
        ("deflate", ("deflate",)),
        ("gzip, gzip", ("gzip", "gzip")),
        ("deflate,GZIP, identity", ("deflate", "gzip")),
    ],
)
def test_gzip_and_deflate_codings_are_decoded_here(
    header: str, names: tuple[str, ...]
) -> None:
    decoder = decoder_for(header)
    assert decoder is not None
    assert decoder.codings == names


@pytest.mark.parametrize("header", [None, "", "identity", " , identity"])
def test_no_coding_needs_no_decoder(header: str | None) -> None:
    assert codings(header) == []
    assert decoder_for(header) is None


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("br", "'br'"),
        ("zstd", "'zstd'"),
        ("bogus", "'bogus'"),
        ("gzip, br", "'br'"),
        ("compress, gzip, zstd", "'compress', 'zstd'"),
    ],
)
def test_a_coding_that_cannot_be_bounded_is_refused(header: str, named: str) -> None:
    with pytest.raises(httpx.DecodingError) as info:
        decoder_for(header)
    message = str(info.value)
    assert f"content-encoding {named} cannot be decoded within max_body" in message
    assert "max_body=None" in message  # what to do about it


def test_a_chain_too_long_is_refused() -> None:
    assert decoder_for(", ".join(["gzip"] * MAX_CODINGS)) is not None
    with pytest.raises(httpx.DecodingError, match=f"at most {MAX_CODINGS}"):
        decoder_for(", ".join(["gzip"] * (MAX_CODINGS + 1)))


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_gzip_round_trips_in_any_chunking(chunk: int) -> None:
    decoder = Decoder("gzip")
    assert decode(decoder, gzip.compress(DATA), chunk, len(DATA) + 1) == DATA


@pytest.mark.parametrize("chunk", [1, 1000])
@pytest.mark.parametrize(
    "packed",
    [zlib.compress(DATA), raw_deflate(DATA)],
    ids=["zlib", "raw"],
)
def test_deflate_accepts_the_zlib_format_and_raw_deflate(
    packed: bytes, chunk: int
) -> None:
    # Byte by byte too: the format is told from the first two bytes, so a
    # first chunk of one byte does not decide it wrongly (as httpx does).
    assert decode(Decoder("deflate"), packed, chunk, len(DATA) + 1) == DATA


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize(
    ("header", "pack"),
    [
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
        ("deflate, x-gzip", lambda data: gzip.compress(raw_deflate(data))),
        ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
        (
            "gzip, deflate, identity, gzip",
            lambda data: gzip.compress(zlib.compress(gzip.compress(data))),
        ),
    ],
)
def test_a_chain_is_undone_last_coding_first(
    header: str, pack: Callable[[bytes], bytes], chunk: int
) -> None:
    decoder = decoder_for(header)
    assert decoder is not None
    assert decode(decoder, pack(DATA), chunk, len(DATA) + 1) == DATA


def test_a_limit_reached_mid_chunk_resumes_with_the_next_call() -> None:
    # Only the whole body's limit ends decoding: a chunk worth more than STEP
    # is decoded in several pieces, its undecoded rest kept for the next one.
    packed = gzip.compress(bytes(3 * STEP))
    assert decode(Decoder("gzip"), packed, len(packed), 3 * STEP + 1) == bytes(3 * STEP)


def test_a_chain_gives_all_it_can_before_the_next_chunk() -> None:
    # Nothing stays pending inside an inner stage between chunks.
    data = bytes(5 * STEP) + DATA
    packed = gzip.compress(gzip.compress(data))
    decoder = Decoder("gzip", "gzip")
    out = b"".join(decoder.decode(packed, len(data) + 1))
    assert out == data
    assert decoder.flush() == b""


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_bad_body_is_a_decoding_error(coding: str) -> None:
    with pytest.raises(httpx.DecodingError, match=f"invalid {coding} body"):
        decode(Decoder(coding), b"\xff" * 64, 16, 1000)


def test_a_bad_inner_coding_is_a_decoding_error() -> None:
    with pytest.raises(httpx.DecodingError, match="invalid gzip body"):
        decode(Decoder("gzip", "gzip"), gzip.compress(b"\xff" * 64), 16, 1000)


def test_an_empty_body_decodes_to_nothing() -> None:
    assert Decoder("gzip", "deflate").flush() == b""


def test_data_after_the_end_is_ignored_not_kept() -> None:
    # As httpx does; zlib would keep it all in `unused_data` if given it.
    decoder = Decoder("gzip")
    assert b"".join(decoder.decode(gzip.compress(b"{}") + b"junk", 100)) == b"{}"
    for _ in range(100):
        assert list(decoder.decode(bytes(STEP), 100)) == []
    assert decoder.flush() == b""


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


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: A stored block, not the final one, of no bytes (LEN 0, NLEN its complement).
EMPTY_BLOCK = b"\x00\x00\x00\xff\xff"
#: A final, empty fixed-Huffman block, then the gzip trailer of nothing: zeros.
GZIP_END = b"\x03\x00" + struct.pack("<II", 0, 0)


def test_empty_blocks_decode_to_nothing() -> None:
    stream = GZIP_HEADER + EMPTY_BLOCK * 1000 + GZIP_END
    assert gzip.decompress(stream) == b""
    assert decode(Decoder("gzip"), stream, 7, 10) == b""


def test_an_inner_coding_that_decodes_to_nothing_is_cut_short() -> None:
    # One gzip stream of 100 MB of empty blocks, gzipped: 100 KB on the wire
    # that would keep the chain busy without a byte of body ever appearing
    # (and a third gzip would make that a hundred times more).
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    blocks = EMPTY_BLOCK * 200_000  # 1 MB
    wire = b"".join(
        [packer.compress(GZIP_HEADER)]
        + [packer.compress(blocks) for _ in range(100)]
        + [packer.compress(GZIP_END), packer.flush()]
    )
    decoder = Decoder("gzip", "gzip")
    with pytest.raises(httpx.DecodingError, match="decode to only 0"):
        decode(decoder, wire, 64 * 1024, 1 << 30)
    # Refused after about a MiB of inner output, not all 100 MB of it.
    assert decoder._stages[0].size < 2 << 20
