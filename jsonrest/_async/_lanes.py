"""`AsyncLanes`: one host's connections spread over a few small httpx pools."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

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
        """Requests each lane is sending now, until their response headers arrive.

        A body is then read at once (jsonrest reads every body whole), so
        this counts a lane's busy connections closely without wrapping every
        response to see it closed.
        """
        return list(self._busy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the least busy lane (the first among equals)."""
        with self._lock:
            busy = self._busy
            index = busy.index(min(busy)) if busy[0] else 0
            lane = self._lanes[index]
            if lane is None:
                lane = self._lanes[index] = self._make(self._keepalive[index])
            busy[index] += 1
        try:
            return await lane.handle_async_request(request)
        finally:
            with self._lock:
                busy[index] -= 1

    async def aclose(self) -> None:
        """Close every lane made so far."""
        with self._lock:
            lanes = [lane for lane in self._lanes if lane is not None]
            self._lanes = [None] * len(self._lanes)
        for lane in lanes:
            await lane.aclose()
