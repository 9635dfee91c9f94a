"""`BodyBudget`: max_body, bounded decoding and the deadline, without sockets.

`read` drives a budget as a twin does, over an `httpx.Response` whose stream
is a list of chunks: raw bytes when the budget asks for them, else httpx's
decoded ones.
"""

from __future__ import annotations

import functools
import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest

import jsonrest
from jsonrest._body import BodyBudget
from jsonrest._deadline import Deadline
from jsonrest._decoding import STEP

HOST = "example.org:8080"
DATA = os.urandom(3000) + bytes(100_000) + b'{"a": [1, 2, 3]}' * 500
MiB = 1 << 20

PACK: dict[str | None, Callable[[bytes], bytes]] = {
    None: bytes,
    "identity": bytes,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "gzip, gzip": lambda data: gzip.compress(gzip.compress(data)),
    "deflate, gzip": lambda data: gzip.compress(zlib.compress(data)),
}


class Chunks(httpx.SyncByteStream):
    """A response body as it comes off the wire, `size` bytes at a time."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data = data
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.size):
            yield self.data[start : start + self.size]


def read(
    wire: bytes,
    coding: str | None,
    limit: int | None,
    deadline: Deadline | None = None,
    chunk: int = 64 * 1024,
) -> bytes:
    """Read a body of `wire` bytes coded as `coding`, as a twin does."""
    headers = {} if coding is None else {"Content-Encoding": coding}
    response = httpx.Response(200, headers=headers, stream=Chunks(wire, chunk))
    budget = BodyBudget(HOST, limit, deadline, response.headers.get("content-encoding"))
    raw = budget.reads_raw(response.is_stream_consumed)
    stream = response.iter_raw() if raw else response.iter_bytes()
    try:
        for piece in stream:
            if not budget.done and not budget.feed(piece):
                response.close()
    except httpx.HTTPError as exc:
        if not budget.failed(exc):
            raise
    return budget.result()


@functools.cache
def chain_bomb(mib: int) -> bytes:
    """`mib` MiB of zeros, gzipped twice, built a MiB at a time: a few KB."""
    inner = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    outer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    parts = [outer.compress(inner.compress(zeros)) for _ in range(mib)]
    parts += [outer.compress(inner.flush()), outer.flush()]
    return b"".join(parts)


def test_a_chained_bomb_costs_about_max_body() -> None:
    bomb = chain_bomb(512)
    assert len(bomb) < 16 * 1024  # 512 MiB of body in a few KB on the wire
    limit = MiB
    tracemalloc.start()
    try:
        with pytest.raises(jsonrest.BodyTooLarge) as info:
            read(bomb, "gzip, gzip", limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (info.value.host, info.value.limit) == (HOST, limit)
    # The body kept up to the limit, and a few pieces in flight per stage.
    assert peak < limit + 8 * STEP, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("chunk", [1, 100, 64 * 1024])
@pytest.mark.parametrize("coding", list(PACK))
def test_a_body_within_the_limit_is_decoded(coding: str | None, chunk: int) -> None:
    assert read(PACK[coding](DATA), coding, len(DATA), chunk=chunk) == DATA


@pytest.mark.parametrize("coding", list(PACK))
def test_exactly_max_body_is_accepted_one_byte_more_refused(
    coding: str | None,
) -> None:
    pack = PACK[coding]
    assert read(pack(DATA), coding, len(DATA)) == DATA
    with pytest.raises(jsonrest.BodyTooLarge):
        read(pack(DATA), coding, len(DATA) - 1)


@pytest.mark.parametrize("limit", [0, 10, None])
@pytest.mark.parametrize("coding", list(PACK))
def test_an_empty_body(coding: str | None, limit: int | None) -> None:
    assert read(b"", coding, limit) == b""
    assert read(PACK[coding](b""), coding, limit) == b""


def test_max_body_zero_refuses_any_byte() -> None:
    with pytest.raises(jsonrest.BodyTooLarge):
        read(gzip.compress(b"x"), "gzip", 0)


@pytest.mark.parametrize(
    ("coding", "limit", "raw"),
    [
        (None, MiB, False),
        ("identity", MiB, False),
        ("gzip", MiB, True),
        ("deflate, gzip", MiB, True),
        ("gzip", None, False),  # no limit: httpx decodes, as it always has
        ("br", None, False),
        ("bogus", None, False),
    ],
)
def test_raw_bytes_only_when_decoded_here(
    coding: str | None, limit: int | None, raw: bool
) -> None:
    assert BodyBudget(HOST, limit, None, coding).raw is raw


@pytest.mark.parametrize(
    ("coding", "limit", "consumed", "raw"),
    [
        (None, MiB, False, True),  # nothing to decode: skip httpx's decoders
        ("identity", MiB, False, True),
        (None, MiB, True, False),  # already read: only httpx has the bytes
        ("gzip", MiB, False, True),
        (None, None, False, False),  # no limit: httpx decodes
        ("br", None, False, False),
    ],
)
def test_reads_raw_whenever_a_limit_leaves_nothing_to_httpx(
    coding: str | None, limit: int | None, consumed: bool, raw: bool
) -> None:
    assert BodyBudget(HOST, limit, None, coding).reads_raw(consumed) is raw


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, br", "bogus"])
def test_a_coding_that_cannot_be_bounded_is_refused_before_reading(
    coding: str,
) -> None:
    with pytest.raises(httpx.DecodingError) as info:
        BodyBudget(HOST, MiB, None, coding)
    assert "cannot be decoded within max_body" in str(info.value)
    assert repr(coding.split(", ")[-1]) in str(info.value)


def test_without_a_limit_an_unknown_coding_is_left_to_httpx() -> None:
    # httpx does not know "bogus" (nor "br" without brotli installed): it
    # passes the bytes on as they came, as before.
    assert read(b"{}", "bogus", None, Deadline(60)) == b"{}"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip, gzip"])
def test_a_bad_body_is_a_decoding_error(coding: str) -> None:
    with pytest.raises(httpx.DecodingError, match="invalid"):
        read(b"\xff" * 64, coding, MiB, chunk=16)


def test_a_bad_body_stops_the_reading() -> None:
    budget = BodyBudget(HOST, MiB, None, "gzip")
    assert not budget.feed(b"\xff" * 64)
    assert budget.done
    assert not budget.feed(gzip.compress(b"{}"))  # nothing more is taken
    assert budget.failed(httpx.ReadError("closed"))  # the end of our own close
    with pytest.raises(httpx.DecodingError):
        budget.result()


def test_an_error_before_the_body_was_cut_is_not_ours() -> None:
    budget = BodyBudget(HOST, MiB, None, None)
    assert budget.feed(b"{")
    assert not budget.failed(httpx.ReadError("connection reset"))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("limit", [MiB, None])
def test_a_body_still_arriving_at_the_deadline_is_late(limit: int | None) -> None:
    clock = Clock()
    budget = BodyBudget(HOST, limit, Deadline(5, clock), "gzip")
    packed = gzip.compress(DATA)
    assert budget.feed(packed[:100])
    clock.now += 4.9
    assert budget.feed(packed[100:200])
    clock.now += 0.1  # each chunk on time, but the body as a whole late
    assert not budget.feed(packed[200:300])
    assert budget.done
    with pytest.raises(jsonrest.Timeout) as info:
        budget.result()
    assert str(info.value) == (
        f"reading the response from {HOST}: deadline of 5 s exceeded"
    )
    assert info.value.host == HOST


def test_a_body_in_on_time_is_not_late() -> None:
    clock = Clock()
    budget = BodyBudget(HOST, MiB, Deadline(5, clock), None)
    assert budget.feed(b"{}")
    clock.now += 60  # after the stream ended: not the body's to tell
    assert budget.result() == b"{}"


def test_too_large_says_so_even_when_late() -> None:
    clock = Clock()
    budget = BodyBudget(HOST, 1, Deadline(5, clock), None)
    clock.now += 10
    assert not budget.feed(b"{}")
    with pytest.raises(jsonrest.BodyTooLarge):
        budget.result()


@pytest.mark.parametrize(
    ("limit", "deadline", "needed"),
    [(None, None, False), (MiB, None, True), (None, Deadline(1), True)],
)
def test_needs_stream(
    limit: int | None, deadline: Deadline | None, needed: bool
) -> None:
    assert BodyBudget.needs_stream(limit, deadline) is needed


def test_with_no_limit_nor_deadline_a_budget_keeps_all() -> None:
    # The twin may `aread()` then, but a budget would do as well.
    assert read(gzip.compress(DATA), "gzip", None, chunk=1000) == DATA


def test_the_result_stays_the_same() -> None:
    budget = BodyBudget(HOST, MiB, None, "deflate, gzip")
    assert budget.feed(PACK["deflate, gzip"](DATA))
    assert budget.result() == DATA
    assert budget.result() == DATA  # not flushed twice
