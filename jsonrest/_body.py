"""`BodyBudget`: what a response body may cost, checked as its chunks arrive.

The policy of reading a body (`max_body`, bounded decoding, the call's
deadline) lives here, free of I/O, so both twins share it and it is tested
without sockets. A twin only iterates the stream, feeds each chunk and, once
the budget says stop, closes the response and reads on, ignoring what comes
(closing, then reading on, ends httpx's chain of generators with an error
rather than abandoning it half-run, which trio warns about)::

    budget = BodyBudget(host, max_body, deadline, headers.get("content-encoding"))
    raw = budget.reads_raw(response.is_stream_consumed)
    stream = response.aiter_raw() if raw else response.aiter_bytes()
    try:
        async for chunk in stream:
            if not budget.done and not budget.feed(chunk):
                await response.aclose()  # then read on, only to end the stream
    except httpx.HTTPError as exc:
        if not budget.failed(exc):
            raise
    return budget.result()
"""

from __future__ import annotations

import httpx

from ._deadline import Deadline
from ._decoding import decoder_for
from ._exceptions import BodyTooLarge, Timeout

__all__ = ["BodyBudget"]


class BodyBudget:
    """The bytes of one response body, kept only while within bounds.

    `limit` is `max_body` (bytes of decoded body; None for no limit) and
    `deadline` the call's (None for none); `content_encoding` is the
    response's header. With a limit, gzip, x-gzip and deflate codings, chained
    or not, are decoded here within it, so the twin must iterate the raw
    bytes: `raw` says so. Without a limit httpx decodes, as it always has.

    Raises `httpx.DecodingError` at once, before any byte is read, for a
    coding that cannot be decoded within a limit (br, zstd, unknown).
    """

    def __init__(
        self,
        host: str,
        limit: int | None,
        deadline: Deadline | None,
        content_encoding: str | None,
    ) -> None:
        self.host = host
        self.limit = limit
        self.deadline = deadline
        self._decoder = None if limit is None else decoder_for(content_encoding)
        #: Whether to feed the raw, still coded bytes (`aiter_raw()`) rather
        #: than httpx's decoded ones (`aiter_bytes()`).
        self.raw = self._decoder is not None
        #: Whether the body was cut short (too large, undecodable, late): the
        #: twin then closes the response and feeds nothing more.
        self.done = False
        self._chunks: list[bytes] = []
        self._size = 0
        self._error: Exception | None = None  # what `result` raises once done

    def __repr__(self) -> str:
        state = f"done: {self._error!r}" if self.done else f"{self._size} bytes"
        return f"BodyBudget({self.host!r}, {self.limit}, {state})"

    @staticmethod
    def needs_stream(limit: int | None, deadline: Deadline | None) -> bool:
        """Whether a body must be read through a budget at all.

        With neither a limit nor a deadline nothing can cut it short: the twin
        may just `aread()` it (a budget would give the same bytes).
        """
        return limit is not None or deadline is not None

    def reads_raw(self, consumed: bool) -> bool:
        """Whether the twin should iterate the raw bytes (`aiter_raw()`): when
        they are decoded here (`raw`), and whenever a limit leaves nothing to
        decode, as httpx's decoders would only pass the bytes through, at
        about 2 µs a response. Not for a response already read (`consumed`:
        a mock transport's), whose raw bytes are gone.
        """
        return self.raw or (self.limit is not None and not consumed)

    def feed(self, chunk: bytes) -> bool:
        """Take the next chunk; False once reading should stop (`done`).

        The deadline is checked after each chunk: every read came within its
        own timeout, but a body dribbling in may outlast the call as a whole.
        """
        if self.done:
            return False
        limit = self.limit
        decoder = self._decoder
        try:
            if decoder is None:
                self._keep(chunk)
            else:
                assert limit is not None
                # A byte past the limit is decoded to tell "too large" apart
                # from "exactly max_body", and no more.
                for piece in decoder.decode(chunk, limit - self._size + 1):
                    self._keep(piece)
        except httpx.DecodingError as exc:
            return self._stop(exc)
        if limit is not None and self._size > limit:
            return self._stop(BodyTooLarge(self.host, limit))
        if self.deadline is not None and self.deadline.expired():
            return self._stop(self._late(self.deadline))
        return True

    def failed(self, exc: httpx.HTTPError) -> bool:
        """Whether an error from the stream is only the end of a body cut short.

        Once `done`, the twin has closed the response: the error reading on
        then raises is its own doing, to swallow. Any other is the host's.
        """
        return self.done

    def result(self) -> bytes:
        """The whole decoded body, once the stream has ended.

        Raises `jsonrest.BodyTooLarge` past the limit, `jsonrest.Timeout` when
        the deadline passed while the body arrived, `httpx.DecodingError` for a
        body its coding cannot undo (the twin maps that to `DecodeError`).
        """
        if self._error is not None:
            raise self._error
        decoder, self._decoder = self._decoder, None  # flushed once only
        if decoder is not None:
            assert self.limit is not None
            self._keep(decoder.flush(self.limit - self._size + 1))
            if self._size > self.limit:
                error = BodyTooLarge(self.host, self.limit)
                self._stop(error)
                raise error
        body = b"".join(self._chunks)
        self._chunks = [body]
        return body

    def _keep(self, piece: bytes) -> None:
        self._size += len(piece)
        self._chunks.append(piece)

    def _stop(self, error: Exception) -> bool:
        self.done = True
        self._error = error
        self._chunks.clear()  # never returned now: free it while the twin drains
        return False

    def _late(self, deadline: Deadline) -> Timeout:
        what = f"reading the response from {self.host}"
        return Timeout(deadline.message(what), host=self.host)
