"""`AsyncLanes`: one host's connections spread over a few small httpx pools."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Sequence

import httpx

__all__ = ["AsyncLanes"]


class AsyncLanes(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request through the least busy lane.

    A lane is an ordinary httpx transport keeping a few connections alive.
    httpcore's pool rescans every connection it holds whenever a request starts
    or ends, so one pool's cost per request grows with its concurrency
    (encode/httpx#3215); lanes of a few connections each keep it flat. Idle
    traffic stays on the first lane, and so on one connection. `make(keepalive)`
    builds a lane on first use; `keepalive` lists each lane's share of the
    connections kept alive.
    """

    def __init__(
        self,
        make: Callable[[int], httpx.AsyncBaseTransport],
        keepalive: Sequence[int],
    ) -> None:
        if not keepalive:
            raise ValueError("AsyncLanes needs at least one lane")
        self._make = make
        self._keepalive = tuple(keepalive)
        self._lanes: list[httpx.AsyncBaseTransport | None] = [None] * len(keepalive)
        self._busy = [0] * len(keepalive)
        self._lock = threading.Lock()  # the blocking twin's lanes serve threads

    def busy(self) -> list[int]:
        """Requests each lane holds now, from sending until their body is closed."""
        return list(self._busy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the least busy lane (the first among equals)."""
        with self._lock:
            busy = self._busy
            index = busy.index(min(busy))
            lane = self._lanes[index]
            if lane is None:
                lane = self._lanes[index] = self._make(self._keepalive[index])
            busy[index] += 1
        try:
            response = await lane.handle_async_request(request)
        except BaseException:
            self._release(index)
            raise
        if response.is_closed:  # read whole already (a mock's): nothing to hold
            self._release(index)
            return response
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # as every transport's
        response.stream = _Releasing(stream, self._release, index)
        return response

    def _release(self, index: int) -> None:
        with self._lock:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        """Close every lane made so far."""
        with self._lock:
            lanes = [lane for lane in self._lanes if lane is not None]
            self._lanes = [None] * len(self._lanes)
        for lane in lanes:
            await lane.aclose()


class _Releasing(httpx.AsyncByteStream):
    """A response body that frees its lane when closed, exactly once."""

    __slots__ = ("_index", "_release", "_stream")

    def __init__(
        self,
        stream: httpx.AsyncByteStream,
        release: Callable[[int], None],
        index: int,
    ) -> None:
        self._stream = stream
        self._release: Callable[[int], None] | None = release
        self._index = index

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # no layer of ours per chunk

    async def aclose(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self._index)
        await self._stream.aclose()
