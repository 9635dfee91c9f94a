"""Cancelling a stream (anyio scopes on asyncio and trio, asyncio tasks)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import pytest

from jsonrest import AsyncResource
from tests.servers import JSONServer, wait_until

ENDLESS = {"say": ['{"n": 1}\n'], "gap": 0.01, "repeat": 100_000}
STALLED = {"say": ['{"n": 1}\n', '{"n": 2}\n'], "gap": 1}


async def assert_closed_and_usable(api: AsyncResource, server: JSONServer) -> None:
    """The server saw the client leave; the resource has nothing in flight and
    still answers."""
    wait_until(lambda: server.hangups == 1 and server.open_connections == 0, 4.0)
    assert api._active == 0
    assert (await api.get("/echo"))["path"] == "/echo"


@pytest.mark.anyio
@pytest.mark.parametrize("query", [ENDLESS, STALLED], ids=["flowing", "stalled"])
async def test_a_cancelled_scope_ends_the_stream_promptly(
    server: JSONServer, query: dict[str, Any]
) -> None:
    items = []
    async with AsyncResource(server.host, timeout=10) as api:
        start = time.perf_counter()
        with anyio.move_on_after(0.3) as scope:
            async with api.stream("GET", "/lines", params=query) as lines:
                async for item in lines:
                    items.append(item)
        assert scope.cancelled_caught
        assert time.perf_counter() - start < 0.6
        assert items[0] == {"n": 1}
        await assert_closed_and_usable(api, server)


@pytest.mark.anyio
async def test_cancelled_while_waiting_for_the_response(server: JSONServer) -> None:
    server.delay = 3  # the status line comes after 3 s
    async with AsyncResource(server.host, timeout=10) as api:
        start = time.perf_counter()
        with anyio.move_on_after(0.3) as scope:
            async with api.stream("GET", "/lines", params=ENDLESS):
                raise AssertionError("not reached")
        assert scope.cancelled_caught
        assert time.perf_counter() - start < 0.6
        assert api._active == 0
        server.delay = 0
        assert (await api.get("/echo"))["path"] == "/echo"


@pytest.mark.anyio
async def test_a_cancelled_body_with_lines_unread_closes(server: JSONServer) -> None:
    # Cancelled in the caller's own await, between two lines it reads.
    async with AsyncResource(server.host, timeout=10) as api:
        with anyio.move_on_after(0.3) as scope:
            async with api.stream("GET", "/lines", params=ENDLESS) as lines:
                async for _ in lines:
                    await anyio.sleep(10)
        assert scope.cancelled_caught
        await assert_closed_and_usable(api, server)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_asyncio_task_cancellation(server: JSONServer) -> None:
    items = []

    async def watch(api: AsyncResource) -> None:
        async with api.stream("GET", "/lines", params=ENDLESS) as lines:
            async for item in lines:
                items.append(item)

    async with AsyncResource(server.host, timeout=10) as api:
        task = asyncio.ensure_future(watch(api))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert items
        await assert_closed_and_usable(api, server)
