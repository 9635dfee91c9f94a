"""`Lines`: a streamed body cut into lines and decoded, free of I/O.

A twin feeds a response's chunks as they arrive and asks for the next item;
what a line is and what it decodes to is decided here, once:

- A line ends at LF; a CR just before it is dropped (CRLF). When the body
  ends, what follows the last LF is a last line, if not empty.
- A JSON stream (`is_json_stream`: NDJSON, JSON Lines, JSON text sequences,
  and `application/json`, which etcd's watch sends one object per line) gives
  each line decoded as one JSON text. Blank lines are skipped, and so is the
  RS (0x1E) that begins each record of `application/json-seq` (RFC 7464),
  whose records must then fit on one line each, as every known producer's do.
- Any other content type gives each line as a `str`, decoded by the
  charset of the content type (UTF-8 when it names none, an unknown one, or
  one in which LF is not the byte 0x0A, such as UTF-16), undecodable bytes
  replaced by U+FFFD. Blank lines are given too: server-sent events separate
  events with them.
- A line may hold at most `limit` bytes (the resource's `max_body`; its end
  not counted). A longer one raises `BodyTooLarge` as soon as it is certain,
  and ends the stream: a line that never ends costs about `limit` bytes of
  memory, no more. With a limit, gzip and deflate bodies are decoded here in
  bounded steps, as `BodyBudget` does; other codings are refused.

A twin drives it so, with `raw` choosing the bytes to feed::

    lines = Lines(host, content_type, content_encoding, limit)
    chunks = response.aiter_raw() if lines.raw else response.aiter_bytes()
    while (item := lines.next()) is MORE:
        try:
            lines.feed(await chunks.__anext__())
        except StopAsyncIteration:
            lines.end()
    # item is END, or the next line's value

Every error it raises is a `jsonrest.Error`: `DecodeError` for a line that
is not JSON (the stream goes on after it) or a coding that cannot be undone,
`BodyTooLarge` for a line that is too long (the stream ends there).
"""

from __future__ import annotations

import codecs
import enum
import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx

from ._decoding import decoder_for
from ._exceptions import BodyTooLarge, DecodeError
from ._faults import as_error
from ._response import is_json

__all__ = ["END", "JSON_STREAMS", "MORE", "Lines", "is_json_stream", "text_codec"]


class Need(enum.Enum):
    """What `Lines.next` returns when it has no line to give."""

    #: No whole line yet: feed the next chunk, or say the body has ended.
    MORE = "MORE"
    #: The body has ended and every line was given.
    END = "END"

    def __repr__(self) -> str:
        return self.value


MORE = Need.MORE
END = Need.END

#: Media types of one JSON text per line, besides `is_json`'s
#: `application/json` and `application/*+json`.
JSON_STREAMS = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/json-seq",
        "application/x-json-stream",
    }
)

_BLANK = b" \t\r\n\x1e"  # JSON's whitespace, and json-seq's record separator


def is_json_stream(content_type: str) -> bool:
    """Whether a streamed body of `content_type` holds one JSON text per line."""
    media = content_type.partition(";")[0].strip().lower()
    return media in JSON_STREAMS or is_json(content_type)


def text_codec(content_type: str) -> str:
    """The codec of text lines of `content_type`: its charset if Python knows
    it and LF is the byte 0x0A in it (lines are cut at that byte), else UTF-8."""
    charset = ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"')
    try:
        name = codecs.lookup(charset or "utf-8").name
        if "\nA".encode(name) == b"\nA":
            b"\nA\xc3\xa9\xff".decode(name, "replace")  # as lines are decoded
            return name
    # An unknown name, or a codec that is not a plain text encoding ("base64",
    # "idna", "undefined") and fails even so.
    except (LookupError, ValueError):
        pass
    return "utf-8"


class Lines:
    """The lines of one streamed body, decoded as they arrive.

    `host`, `status`, `method` and `path` name the response in errors;
    `limit` is the most bytes a line may hold (None for no limit). Raises
    `DecodeError` at once for a `content_encoding` that cannot be decoded
    within a limit (br, zstd, unknown).
    """

    def __init__(
        self,
        host: str,
        content_type: str | None,
        content_encoding: str | None,
        limit: int | None,
        *,
        status: int = 200,
        method: str = "",
        path: str = "",
    ) -> None:
        self.host = host
        self.status = status
        self.method = method
        self.path = path.partition("?")[0]
        self.limit = limit
        #: Whether each line is decoded as JSON (else it is given as a str).
        self.json = is_json_stream(content_type or "")
        self._codec = text_codec(content_type or "")
        try:
            self._decoder = None if limit is None else decoder_for(content_encoding)
        except httpx.DecodingError as exc:
            raise self._undecodable(exc) from exc
        #: Whether to feed the raw, still coded bytes (`aiter_raw()`) rather
        #: than httpx's decoded ones (`aiter_bytes()`).
        self.raw = self._decoder is not None
        #: Lines cut so far, blank ones included: a `DecodeError` names its line.
        self.count = 0
        self._buffer = bytearray()
        self._start = 0  # where the part not yet cut into lines begins
        self._scanned = 0  # no LF before this offset, from `_start` on
        self._pieces: Iterator[bytes] = iter(())
        self._ended = False  # the body has ended (`end`)
        self._done = False  # nothing more to give

    def __repr__(self) -> str:
        pending = len(self._buffer) - self._start
        return f"Lines({self.host!r}, {self.count} lines, {pending} bytes pending)"

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the body, once `next` has returned `MORE`."""
        if self._decoder is None:
            self._pieces = iter((chunk,))
        else:
            # Decoded lazily in steps of at most 256 KiB, as `next` takes them:
            # a bomb of short lines costs no more memory than one step.
            self._pieces = self._decoder.decode(chunk, sys.maxsize)

    def end(self) -> None:
        """The body has ended: what is left is the last line."""
        self._ended = True
        if self._decoder is not None:
            try:
                self._pieces = iter((self._decoder.flush(),))
            except httpx.DecodingError as exc:
                self._done = True
                raise self._undecodable(exc) from exc

    def next(self) -> Any:
        """The next line's value (JSON, or a str); or `MORE` when no whole line
        is in yet; or `END` once the body has ended and every line was given."""
        while not self._done:
            line = self._cut()
            if line is None:
                try:
                    piece = next(self._pieces, None)
                except httpx.DecodingError as exc:
                    self._done = True
                    raise self._undecodable(exc) from exc
                if piece is not None:
                    self._take(piece)
                    continue
                if not self._ended:
                    return MORE
                self._done = True
                line = self._last()
                if line is None:
                    break
            if not self.json:
                return line.decode(self._codec, "replace")
            text = line.strip(_BLANK)
            if text:
                try:
                    return json.loads(text)
                except (ValueError, RecursionError) as exc:
                    raise self._not_json(exc) from exc
        return END

    def _take(self, piece: bytes) -> None:
        buffer = self._buffer
        if self._start:  # drop the lines already cut, once per piece
            del buffer[: self._start]
            self._scanned -= self._start
            self._start = 0
        buffer += piece

    def _cut(self) -> bytes | None:
        """The next whole line, without its end; None until one is in."""
        buffer, start = self._buffer, self._start
        end = buffer.find(b"\n", max(self._scanned, start))
        if end < 0:
            self._scanned = len(buffer)
            # One byte more than the limit may still be a CR before the LF.
            if self.limit is not None and len(buffer) - start > self.limit + 1:
                raise self._too_long()
            return None
        self._start = self._scanned = end + 1
        return self._checked(bytes(buffer[start:end]))

    def _last(self) -> bytes | None:
        """What follows the last LF once the body has ended; None if nothing."""
        rest = bytes(self._buffer[self._start :])
        self._buffer.clear()
        self._start = self._scanned = 0
        return self._checked(rest) if rest else None

    def _checked(self, line: bytes) -> bytes:
        self.count += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if self.limit is not None and len(line) > self.limit:
            raise self._too_long()
        return line

    def _too_long(self) -> BodyTooLarge:
        self._done = True
        self._buffer.clear()
        assert self.limit is not None
        error = BodyTooLarge(self.host, self.limit)
        # Said of a line rather than of the whole body, which has no limit.
        error.args = (
            f"{self._what()}a line of the stream from {self.host} exceeds "
            f"max_body={self.limit} bytes",
        )
        return error

    def _not_json(self, exc: Exception) -> DecodeError:
        return DecodeError(
            f"{self._what()}line {self.count} of the stream from {self.host} "
            f"is not JSON: {exc}",
            host=self.host,
            status=self.status,
        )

    def _undecodable(self, exc: httpx.DecodingError) -> Exception:
        return as_error(exc, self.host, self.status, method=self.method, path=self.path)

    def _what(self) -> str:
        return f"{self.method} {self.path}: " if self.method else ""
