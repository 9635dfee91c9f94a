"""One awaitable instance used by successive event loops, and by two at once.

An instance follows the event loop that uses it: its httpx client is closed
as that loop ends, and the next loop gets a new one. Two loops running at
once may not share it: `RuntimeError` says so.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from jsonrest import AsyncResource, AsyncResources, AsyncShards
from tests.servers import JSONServer, wait_until

# Each run is a fresh event loop, on asyncio or trio, in every order.
BACKENDS = ["asyncio", "trio", "asyncio", "asyncio", "trio", "trio"]


def run_in_turn(
    call: Callable[[], Awaitable[Any]], server: JSONServer | None = None
) -> list[Any]:
    """`call()` in one event loop after another; after each, no connection
    of `server` is left open: the pool closed as its loop ended."""
    results = []
    for backend in BACKENDS:
        results.append(anyio.run(call, backend=backend))
        if server is not None:
            wait_until(lambda: server.open_connections == 0)
    return results


def no_socket_left_to_collect() -> None:
    # An unclosed socket or transport would warn now: warnings are errors.
    gc.collect()


def test_a_resource_follows_successive_event_loops(server: JSONServer) -> None:
    api = AsyncResource(server.host)

    async def get() -> Any:
        return (await api.get("/echo", n=1))["query"]

    assert run_in_turn(get, server) == [{"n": ["1"]}] * len(BACKENDS)

    async def close() -> None:
        await api.aclose()

    anyio.run(close, backend="trio")  # in yet another loop: nothing to close
    with pytest.raises(RuntimeError, match="closed"):
        anyio.run(get)
    assert len(server.requests) == len(BACKENDS)
    no_socket_left_to_collect()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_pool_left_open_closes_as_its_loop_ends(
    server: JSONServer, backend: str
) -> None:
    api = AsyncResource(server.host)

    async def get() -> None:
        await api.get("/echo")
        assert server.open_connections == 1  # kept alive for reuse

    anyio.run(get, backend=backend)
    wait_until(lambda: server.open_connections == 0)
    if backend == "asyncio":
        asyncio.run(get())  # asyncio.run ends its loop the same way
        wait_until(lambda: server.open_connections == 0)
    no_socket_left_to_collect()


def test_a_cluster_follows_successive_event_loops(servers: list[JSONServer]) -> None:
    cluster = AsyncResources([s.host for s in servers], retries=0)

    async def calls() -> tuple[int, list[int]]:
        one = await cluster.unicast("GET", "/echo")
        every = await cluster.broadcast("GET", "/echo")
        return one.status, [r.status for r in every]

    assert run_in_turn(calls) == [(200, [200, 200, 200])] * len(BACKENDS)
    for server in servers:
        wait_until(lambda server=server: server.open_connections == 0)
    # Nothing failed over: a new loop is not a host failure.
    assert all(s["failures"] == 0 for s in cluster.stats().values())

    async def close() -> None:
        await cluster.aclose()

    anyio.run(close)


def test_shards_follow_successive_event_loops(servers: list[JSONServer]) -> None:
    shards = AsyncShards([(servers[0].host, "a"), (servers[1].host, "b")])

    async def calls() -> int:
        return (await shards.unicast("a", "GET", "/echo")).status

    assert run_in_turn(calls) == [200] * len(BACKENDS)

    async def close() -> None:
        await shards.aclose()

    anyio.run(close, backend="trio")


def test_max_in_flight_follows_successive_event_loops(server: JSONServer) -> None:
    api = AsyncResource(server.host, max_in_flight=2)

    async def burst() -> list[int]:
        statuses: list[int] = []

        async def one() -> None:
            statuses.append((await api.request("GET", "/sleep/0.05")).status)

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(one)
        return statuses

    assert run_in_turn(burst, server) == [[200] * 4] * len(BACKENDS)
    assert server.peak <= 2

    async def close() -> None:
        await api.aclose()

    anyio.run(close)


def test_closing_in_the_loop_that_used_it_closes_the_pool(
    server: JSONServer,
) -> None:
    api = AsyncResource(server.host)

    async def use_and_close() -> None:
        await api.get("/echo")
        await api.aclose()

    anyio.run(use_and_close, backend="trio")
    wait_until(lambda: server.open_connections == 0)


@pytest.mark.parametrize(
    ("first", "second"), [("asyncio", "trio"), ("trio", "asyncio")]
)
def test_two_loops_at_once_may_not_share_an_instance(
    server: JSONServer, first: str, second: str
) -> None:
    api = AsyncResource(server.host)
    used = threading.Event()
    done = threading.Event()
    outcome: list[Any] = []

    async def hold() -> None:
        # Uses the instance, then keeps its loop running until told to end.
        outcome.append((await api.get("/echo"))["path"])
        used.set()
        await anyio.to_thread.run_sync(done.wait, 10.0)
        await api.aclose()  # in the loop that owns it: closes the pool

    thread = threading.Thread(target=anyio.run, args=(hold,), kwargs={"backend": first})
    thread.start()
    try:
        assert used.wait(10.0)

        async def get() -> Any:
            return await api.get("/echo")

        with pytest.raises(RuntimeError, match="one event loop at a time"):
            anyio.run(get, backend=second)

        async def close() -> None:
            await api.aclose()

        with pytest.raises(RuntimeError, match="one event loop at a time"):
            anyio.run(close, backend=second)
    finally:
        done.set()
        thread.join(10.0)
    assert outcome == ["/echo"]
    assert server.requests == [("GET", "/echo")]  # the refused call sent nothing
    wait_until(lambda: server.open_connections == 0)


def test_a_client_made_outside_any_loop_is_kept(server: JSONServer) -> None:
    # Hooks added to .client before the first loop still run in it (hooks
    # run on the client path, which event_hooks= selects).
    api = AsyncResource(server.host, event_hooks={})
    seen: list[str] = []

    async def hook(request: Any) -> None:
        seen.append(request.url.path)

    api.client.event_hooks["request"].append(hook)

    async def get() -> None:
        await api.get("/echo")
        await api.aclose()

    asyncio.run(get())
    assert seen == ["/echo"]
