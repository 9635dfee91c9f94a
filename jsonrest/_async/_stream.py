"""`AsyncLineStream`: a long or endless response, read line by line."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .._concurrency import async_shield
from .._exceptions import Error, StatusError
from .._faults import as_error
from .._lines import END, MORE, Lines
from .._request import Request
from .._response import Response

if TYPE_CHECKING:
    from ._resource import AsyncResource

__all__ = ["AsyncLineStream"]


class AsyncLineStream:
    """A response read as it arrives, one decoded line at a time.

    Made by `AsyncResource.stream`, and read inside its `async with`, which
    sends the request, and closes the response (and its connection) on the
    way out:

        async with api.stream("GET", "/v3/watch") as lines:
            async for event in lines:
                ...

    Each item is a line's value: for a JSON stream (NDJSON, JSON Lines,
    `application/json-seq`, `application/json`) each line decoded as JSON,
    blank lines skipped; for any other content type each line as a `str`,
    blank lines included. A line ends at LF or CRLF; a last line without one
    counts once the body ends. A line may hold at most `max_body` bytes:
    a longer one raises `BodyTooLarge` and ends the stream. A line that is not
    JSON raises `DecodeError`; iterating again goes on with the next line.

    The timeout applies between chunks: a stream may run for ever, but a
    silence longer than the read timeout raises `Timeout`. A status other
    than 2xx raises `StatusError` on entering, its body read within
    `max_body`; a failure of the connection raises `TransportError`. Leaving
    the `async with` early (`break`, an exception, and in the awaitable twin
    a cancelled scope or task) closes the connection at once.

    `status`, `reason` and `headers` are the response's, once entered; `host`,
    `method` and `path` (without its query) name the request.
    """

    def __init__(self, resource: AsyncResource, request: Request, timeout: Any) -> None:
        self.host = resource.host
        """The host, as the resource names it (`name:port`)."""
        self.method = request.method
        """The request's method."""
        self.path = request.target.partition("?")[0]
        """The request's path, without its query (which may carry credentials)."""
        self.status = 0
        """The HTTP status code; 0 until entered."""
        self.reason = ""
        """The reason phrase ("OK"), or "" when the host sent none."""
        self.headers = httpx.Headers()
        """The response headers; empty until entered."""
        self._resource = resource
        self._request = request
        self._timeout = timeout
        self._entered = False
        self._closed = False
        self._turn: Any = None  # a turn of `max_in_flight`, held while open
        self._in_flight = False  # counted among the resource's requests
        self._response: httpx.Response | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._lines: Lines | None = None  # None once the stream has ended

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.path} [{self.status}]>"

    async def __aenter__(self) -> AsyncLineStream:
        if self._entered:
            raise RuntimeError(f"{self!r} was entered before: a stream is read once")
        self._entered = True
        try:
            await self._open()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _open(self) -> None:
        resource, request = self._resource, self._request
        gate = resource._gate
        if gate is not None:
            turn = gate.turn()
            try:
                await turn.__aenter__()
            except httpx.PoolTimeout as exc:  # raised by the gate itself
                raise self._error(exc) from exc
            self._turn = turn
        start = time.perf_counter()
        response = await resource._open(request, self._timeout)
        self._in_flight = True
        self._response = response
        self.status = response.status_code
        self.reason = response.reason_phrase
        self.headers = response.headers
        if not response.is_success:
            try:
                body = await resource._read(response, None)
            except httpx.HTTPError as exc:
                raise self._error(exc) from exc
            answer = Response(
                response.status_code,
                body,
                headers=response.headers,
                reason=response.reason_phrase,
                host=self.host,
                elapsed=time.perf_counter() - start,
                method=request.method,
                path=request.target,
            )
            raise StatusError(answer, answer.value)
        lines = Lines(
            self.host,
            response.headers.get("content-type"),
            response.headers.get("content-encoding"),
            resource.max_body,
            status=response.status_code,
            method=request.method,
            path=request.target,
        )
        self._chunks = response.aiter_raw() if lines.raw else response.aiter_bytes()
        self._lines = lines

    def __aiter__(self) -> AsyncLineStream:
        return self

    async def __anext__(self) -> Any:
        """The next line's value; the end of the stream once the body ends."""
        lines, chunks = self._lines, self._chunks
        if lines is None or chunks is None:
            if not self._entered:
                raise RuntimeError(
                    "read a stream inside its `async with`: "
                    "async with api.stream(...) as lines: async for item in lines"
                )
            raise StopAsyncIteration  # closed, or ended by an error
        while (item := lines.next()) is MORE:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                lines.end()
            except httpx.HTTPError as exc:
                self._lines = None
                raise self._error(exc) from exc
            else:
                lines.feed(chunk)
        if item is END:
            self._lines = None
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Close the response and its connection; iterating then ends.

        Leaving the `async with` does this; calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        self._lines = None
        response, self._response = self._response, None
        chunks, self._chunks = self._chunks, None
        turn, self._turn = self._turn, None
        with async_shield():  # a cancelled caller still closes the connection
            try:
                if response is not None:
                    await response.aclose()
                if chunks is not None:
                    await _drain(chunks)
            finally:
                if self._in_flight:
                    self._in_flight = False
                    await self._resource._leave()
                if turn is not None:
                    await turn.__aexit__(None, None, None)

    def _error(self, exc: httpx.HTTPError) -> Error:
        return as_error(
            exc,
            self.host,
            self.status,
            method=self.method,
            path=self._request.target,
        )


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """End httpx's chain of generators under a closed response.

    Reading on ends it with an error at once, rather than abandoning it
    half-run (trio warns about abandoned async generators).
    """
    try:
        async for _ in chunks:
            pass
    except (httpx.HTTPError, httpx.StreamError):
        pass
