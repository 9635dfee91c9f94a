"""The I/O-free line splitting and decoding of a streamed body."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

import jsonrest
from jsonrest._lines import END, MORE, Lines, is_json_stream, text_codec

NDJSON = "application/x-ndjson"


def read(lines: Lines, chunks: Iterable[bytes]) -> list[Any]:
    """Drive `lines` as a twin does: every value, to the end."""
    chunks = iter(chunks)
    items = []
    while True:
        item = lines.next()
        if item is MORE:
            chunk = next(chunks, None)
            if chunk is None:
                lines.end()
            else:
                lines.feed(chunk)
        elif item is END:
            return items
        else:
            items.append(item)


def make(
    content_type: str | None = NDJSON,
    limit: int | None = None,
    content_encoding: str | None = None,
) -> Lines:
    return Lines(
        "h:1", content_type, content_encoding, limit, method="GET", path="/w?t=s"
    )


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_json_lines_across_chunks(size: int) -> None:
    body = b'{"a": 1}\n\n  \r\n[1, "\xc3\xa9"]\r\n\x1e"s"\n7'
    assert read(make(), split(body, size)) == [{"a": 1}, [1, "é"], "s", 7]


@pytest.mark.parametrize("size", [1, 2, 1000])
def test_text_lines_across_chunks(size: int) -> None:
    body = "data: é\r\n\nid: 2\nlast".encode()
    assert read(make("text/event-stream"), split(body, size)) == [
        "data: é",
        "",
        "id: 2",
        "last",
    ]


@pytest.mark.parametrize(
    ("body", "values"),
    [
        (b"", []),
        (b"\n", [""]),
        (b"a\n", ["a"]),
        (b"a\n\n", ["a", ""]),
        (b"a\r\n", ["a"]),
        (b"a\r", ["a"]),  # a last CR with no LF after it
        (b"a\rb\n", ["a\rb"]),  # a lone CR inside a line is kept
        (b"a\r\r\n", ["a\r"]),  # one CR, the one before the LF, is dropped
    ],
)
def test_line_ends(body: bytes, values: list[str]) -> None:
    assert read(make("text/plain"), [body]) == values


def test_the_protocol() -> None:
    lines = make()
    assert lines.next() is MORE
    lines.feed(b'{"a"')
    assert lines.next() is MORE
    lines.feed(b": 1}\n2\n")
    assert lines.next() == {"a": 1}
    assert lines.next() == 2
    assert lines.next() is MORE
    lines.end()
    assert lines.next() is END
    assert lines.next() is END
    assert repr(MORE) == "MORE"
    assert repr(lines) == "Lines('h:1', 2 lines, 0 bytes pending)"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-ndjson",
        "application/ndjson",
        "Application/JSONL",
        "application/x-jsonlines",
        "application/json-seq",
        "application/stream+json",
        "application/x-json-stream",
    ],
)
def test_json_streams(content_type: str) -> None:
    assert is_json_stream(content_type)
    assert make(content_type).json


@pytest.mark.parametrize(
    "content_type", ["", "text/plain", "text/event-stream", "application/octet-stream"]
)
def test_text_streams(content_type: str) -> None:
    assert not is_json_stream(content_type)
    assert read(make(content_type), [b'{"a": 1}\n']) == ['{"a": 1}']


def test_no_content_type_is_text() -> None:
    assert read(make(None), [b"\xc3\xa9\n"]) == ["é"]


@pytest.mark.parametrize(
    ("content_type", "codec"),
    [
        ("text/plain", "utf-8"),
        ("text/plain; charset=ISO-8859-1", "iso8859-1"),
        ('text/plain; charset="latin-1"', "iso8859-1"),
        ("text/plain; charset=utf-16", "utf-8"),  # LF is not 0x0A: not cut so
        ("text/plain; charset=utf-32-le", "utf-8"),
        ("text/plain; charset=nonsense", "utf-8"),
        ("text/plain; charset=base64", "utf-8"),
        ("text/plain; charset=idna", "utf-8"),
        ("text/plain; charset=", "utf-8"),
    ],
)
def test_text_codec(content_type: str, codec: str) -> None:
    assert text_codec(content_type) == codec


def test_text_by_charset_with_bad_bytes_replaced() -> None:
    assert read(make("text/plain; charset=latin-1"), [b"\xe9\n"]) == ["é"]
    assert read(make("text/plain"), [b"\xff\xc3\n\xc3", b"\xa9"]) == [
        "\ufffd\ufffd",
        "é",
    ]


def test_a_line_that_is_not_json_raises_then_the_next_one_comes() -> None:
    lines = make()
    lines.feed(b'1\n{"a": \n\n3\n')
    assert lines.next() == 1
    with pytest.raises(jsonrest.DecodeError) as info:
        lines.next()
    assert lines.next() == 3
    assert str(info.value).startswith(
        "GET /w: line 2 of the stream from h:1 is not JSON: Expecting value"
    )
    assert (info.value.host, info.value.status) == ("h:1", 200)


def test_a_truncated_last_line_is_not_json() -> None:
    with pytest.raises(jsonrest.DecodeError, match="line 2 of the stream"):
        read(make(), [b'1\n{"a": '])


def test_json_nested_too_deep_is_a_decode_error() -> None:
    with pytest.raises(jsonrest.DecodeError):
        read(make(), [b"[" * 100_000 + b"\n"])


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b""])
def test_a_line_may_hold_limit_bytes(end: bytes) -> None:
    assert read(make("text/plain", limit=5), [b"12345" + end]) == ["12345"]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b""])
def test_a_longer_line_raises_and_ends_the_stream(end: bytes) -> None:
    lines = make("text/plain", limit=5)
    lines.feed(b"1\n123456" + end + b"2\n")
    assert lines.next() == "1"
    with pytest.raises(jsonrest.BodyTooLarge) as info:
        read(lines, [])
    assert lines.next() is END
    assert info.value.limit == 5
    assert info.value.host == "h:1"
    assert str(info.value) == (
        "GET /w: a line of the stream from h:1 exceeds max_body=5 bytes"
    )


def test_an_endless_line_raises_as_soon_as_it_is_too_long() -> None:
    lines = make(limit=1000)
    fed: list[bytes] = []

    def endless() -> Iterator[bytes]:
        while True:
            fed.append(b"x" * 100)
            yield fed[-1]

    with pytest.raises(jsonrest.BodyTooLarge):
        read(lines, endless())
    assert len(fed) == 11  # 1001 bytes may still end in CR: 1002 may not
    assert len(lines._buffer) == 0  # freed


def test_memory_stays_bounded_while_lines_flow() -> None:
    lines = make("text/plain", limit=100)
    chunk = b"0123456789" * 3 + b"\n" + b"x" * 60  # a line ends in each chunk
    for _ in range(1000):
        lines.feed(chunk)
        while lines.next() is not MORE:
            pass
        assert len(lines._buffer) <= 100 + len(chunk)
    assert lines.count == 1000


def test_no_limit() -> None:
    assert read(make("text/plain"), [b"x" * 1_000_000, b"\n"]) == ["x" * 1_000_000]


def test_gzip_is_decoded_within_the_limit() -> None:
    coder = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    body = b'{"n": 1}\n{"n": 2}\n'
    coded = coder.compress(body) + coder.flush()
    lines = make(limit=100, content_encoding="gzip")
    assert lines.raw
    assert read(lines, split(coded, 3)) == [{"n": 1}, {"n": 2}]


def test_each_gzip_chunk_gives_its_lines_at_once() -> None:
    coder = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    lines = make(limit=100, content_encoding="gzip")
    lines.feed(coder.compress(b'{"n": 1}\n') + coder.flush(zlib.Z_SYNC_FLUSH))
    assert lines.next() == {"n": 1}
    assert lines.next() is MORE


def test_a_gzip_bomb_of_short_lines_is_decoded_lazily() -> None:
    bomb = gzip.compress(b"1\n" * 50_000_000)  # 100 MB in about 100 KB
    lines = make(limit=100, content_encoding="gzip")
    lines.feed(bomb[:1000])
    taken = [lines.next() for _ in range(10)]
    assert taken == [1] * 10
    # Decoded a step at a time, as lines are taken: not the whole chunk.
    assert len(lines._buffer) <= 256 * 1024


def test_a_gzip_bomb_of_one_line_raises() -> None:
    bomb = gzip.compress(b"x" * 10_000_000)
    with pytest.raises(jsonrest.BodyTooLarge):
        read(make(limit=1000, content_encoding="gzip"), [bomb])


def test_a_bad_coding_is_a_decode_error() -> None:
    with pytest.raises(jsonrest.DecodeError, match="GET /w: bad content-encoding"):
        read(make(limit=100, content_encoding="gzip"), [b"not gzip at all\n"])


def test_a_truncated_gzip_body_gives_what_arrived() -> None:
    # As httpx does, an unfinished gzip stream ends without an error.
    coded = gzip.compress(b'{"n": 1}\n{"n": 2}\n')
    lines = make(limit=100, content_encoding="gzip")
    assert read(lines, [coded[:-8]]) == [{"n": 1}, {"n": 2}]


def test_codings_that_cannot_be_bounded_are_refused() -> None:
    with pytest.raises(jsonrest.DecodeError, match="'br' cannot be decoded"):
        make(limit=100, content_encoding="br")
    lines = make(limit=None, content_encoding="br")  # httpx decodes, unbounded
    assert not lines.raw
