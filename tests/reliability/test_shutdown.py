"""Cancellation and shutdown: calls cancelled at random points and clusters
closed under running threads leave nothing behind.

Async calls (unicast, broadcast, multicast) are cancelled at seeded random
moments on asyncio and trio; they return promptly, blame no host, and the
cluster stays usable. A `Resources` closed while 8 threads use it ends every
caller with a clear `RuntimeError`, deadlocks nothing, and gives back its
threads, file descriptors and connections.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import jsonrest
from jsonrest import AsyncResource, AsyncShards, Resources, Shards
from jsonrest._concurrency import Workers
from tests.servers import JSONServer

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="counts fds in /proc/self/fd"
    ),
    # A request cancelled while httpx sends its body abandons httpx's body
    # generator, and trio warns when it collects it (encode/httpx#3686); trio
    # still closes it, and the fd and connection checks below hold.
    pytest.mark.filterwarnings("ignore:Async generator 'httpx.:ResourceWarning"),
]
KEYS = [f"k{i}" for i in range(6)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def server_connections(servers: list[JSONServer]) -> int:
    """Connections the servers still hold open (a client that leaked keeps them)."""
    return sum(len(srv._open) for srv in servers)


def settle(measure: Callable[[], int], baseline: int, timeout: float = 5.0) -> int:
    """Wait until `measure()` is back to `baseline` or time runs out; return it."""
    deadline = time.monotonic() + timeout
    value = measure()
    while value > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
        value = measure()
    return value


async def async_settle(
    measure: Callable[[], int], baseline: int, timeout: float = 5.0
) -> int:
    deadline = time.monotonic() + timeout
    value = measure()
    while value > baseline and time.monotonic() < deadline:
        await anyio.sleep(0.02)
        value = measure()
    return value


def multimap(servers: list[JSONServer]) -> dict[str, list[str]]:
    """Each key on two of the three servers."""
    hosts = [srv.host for srv in servers]
    placed: dict[str, list[str]] = {host: [] for host in hosts}
    for i, key in enumerate(KEYS):
        placed[hosts[i % 3]].append(key)
        placed[hosts[(i + 1) % 3]].append(key)
    return placed


async def one_call(shards: AsyncShards, call: str, method: str, path: str) -> Any:
    body = {"n": 1} if method == "POST" else None
    if call == "unicast":
        return await shards.resources.unicast(method, path, body)
    if call == "broadcast":
        return await shards.resources.broadcast(method, path, body)
    return await shards.multicast(KEYS[:4], method, path, body)


def assert_quiet(shards: AsyncShards | Shards) -> None:
    stats = shards.resources.stats()
    assert [s["in_flight"] for s in stats.values()] == [0] * len(stats)
    # A cancelled call is never the host's fault.
    assert {s["state"] for s in stats.values()} == {"up"}


@pytest.mark.anyio
@pytest.mark.parametrize("call", ["unicast", "broadcast", "multicast"])
async def test_cancel_at_random_points(servers: list[JSONServer], call: str) -> None:
    fresh_fds = open_fds()  # in the event loop: its own fds are counted
    rng = random.Random(f"cancel-{call}")
    shards = AsyncShards(multimap=multimap(servers), timeout=5)
    cancelled = finished = zero = never = 0
    for _ in range(30):
        # At once, mid-connect, mid-request, mid-reply, or never.
        delay = rng.choice([0.0, rng.uniform(0, 0.003), rng.uniform(0, 0.06), 2.0])
        zero += delay == 0
        never += delay == 2
        method = rng.choice(["GET", "POST", "PUT"])
        path = rng.choice(["/sleep/0.03", "/echo", "/big/200000"])
        start = time.perf_counter()
        with anyio.move_on_after(delay) as scope:
            await one_call(shards, call, method, path)
        elapsed = time.perf_counter() - start
        assert elapsed < min(delay, 0.06) + 0.5, f"{call} took {elapsed:.2f} s"
        if scope.cancelled_caught:
            cancelled += 1
        else:
            finished += 1
        assert_quiet(shards)
    assert cancelled >= zero > 0
    assert finished >= never > 0
    # Still usable, every way.
    assert (await one_call(shards, "unicast", "GET", "/echo")).status == 200
    assert len(await one_call(shards, "broadcast", "GET", "/echo")) == 3
    assert len(await one_call(shards, "multicast", "GET", "/echo")) >= 2
    await shards.aclose()
    assert await async_settle(lambda: server_connections(servers), 0) == 0
    assert await async_settle(open_fds, fresh_fds) <= fresh_fds


@pytest.mark.anyio
async def test_cancel_a_task_group_of_mixed_calls(
    servers: list[JSONServer],
) -> None:
    fresh_fds = open_fds()
    rng = random.Random(7)
    shards = AsyncShards(multimap=multimap(servers), timeout=5)
    for _ in range(8):
        async with anyio.create_task_group() as group:
            for call in ("unicast", "broadcast", "multicast") * 3:
                group.start_soon(one_call, shards, call, "GET", "/sleep/0.05")
            await anyio.sleep(rng.uniform(0, 0.04))
            group.cancel_scope.cancel()
        assert_quiet(shards)
    assert len(await one_call(shards, "broadcast", "GET", "/echo")) == 3
    await shards.aclose()
    assert await async_settle(lambda: server_connections(servers), 0) == 0
    assert await async_settle(open_fds, fresh_fds) <= fresh_fds


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_asyncio_task_cancel_at_random_points(
    servers: list[JSONServer],
) -> None:
    fresh_fds = open_fds()
    rng = random.Random(8)
    tasks = len(asyncio.all_tasks())
    shards = AsyncShards(multimap=multimap(servers), timeout=5)
    for _ in range(20):
        call = rng.choice(["unicast", "broadcast", "multicast"])
        task = asyncio.ensure_future(one_call(shards, call, "GET", "/sleep/0.03"))
        await asyncio.sleep(rng.uniform(0, 0.05))
        task.cancel()
        start = time.perf_counter()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert time.perf_counter() - start < 0.5
        assert_quiet(shards)
    await shards.aclose()
    assert len(asyncio.all_tasks()) == tasks
    assert await async_settle(lambda: server_connections(servers), 0) == 0
    assert await async_settle(open_fds, fresh_fds) <= fresh_fds


# Closing under running threads ---------------------------------------------


def busy_caller(
    shards: Shards, rng: random.Random, started: threading.Barrier, outcomes: list[Any]
) -> None:
    """Call at random until the cluster is closed under us."""
    resources = shards.resources
    started.wait(5)
    calls = 0
    try:
        while calls < 10_000:
            kind = rng.choice(["unicast", "post", "broadcast", "multicast"])
            if kind == "unicast":
                resources.unicast("GET", "/sleep/0.01")
            elif kind == "post":
                resources.unicast("POST", "/echo", {"n": calls})
            elif kind == "broadcast":
                resources.broadcast("GET", "/sleep/0.01")
            else:
                shards.multicast(KEYS[:4], "GET", "/echo")
            calls += 1
    except RuntimeError as error:
        outcomes.append(error)
    except jsonrest.BroadcastError as error:
        # Hosts closed mid-broadcast fail as "closed" too, not as transport errors.
        outcomes.append(error)
    except BaseException as error:  # anything else is a bug to report
        outcomes.append(error)
    else:
        outcomes.append("never closed")


def test_close_while_8_threads_use_it(servers: list[JSONServer]) -> None:
    threads, fds = threading.active_count(), open_fds()
    shards = Shards(multimap=multimap(servers), timeout=5)
    outcomes: list[Any] = []
    started = threading.Barrier(9)
    callers = [
        threading.Thread(
            target=busy_caller,
            args=(shards, random.Random(i), started, outcomes),
            daemon=True,
        )
        for i in range(8)
    ]
    for caller in callers:
        caller.start()
    started.wait(5)
    time.sleep(0.3)
    start = time.perf_counter()
    shards.close()
    closing = time.perf_counter() - start
    for caller in callers:
        caller.join(10)
    assert not any(caller.is_alive() for caller in callers), "deadlock"
    assert closing < 5
    assert len(outcomes) == 8
    for outcome in outcomes:
        assert isinstance(outcome, RuntimeError), repr(outcomes)
        assert "closed" in str(outcome)
    # Later calls fail at once, clearly.
    with pytest.raises(RuntimeError, match="closed"):
        shards.resources.unicast("GET", "/echo")
    with pytest.raises(RuntimeError, match="closed"):
        shards.resources.broadcast("GET", "/echo")
    with pytest.raises(RuntimeError, match="closed"):
        shards.multicast(KEYS, "GET", "/echo")
    # Nothing left behind: threads, our sockets, the servers' connections.
    assert settle(threading.active_count, threads) == threads, threading.enumerate()
    assert settle(lambda: server_connections(servers), 0) == 0
    assert settle(open_fds, fds) <= fds


@pytest.mark.anyio
async def test_closing_lets_requests_in_flight_finish(server: JSONServer) -> None:
    fds = open_fds()
    resource = AsyncResource(server.host)
    statuses: list[int] = []

    async def slow() -> None:
        statuses.append((await resource.request("GET", "/sleep/0.3")).status)

    async with anyio.create_task_group() as group:
        group.start_soon(slow)
        await anyio.sleep(0.1)
        await resource.aclose()  # the request in flight is not cut off...
        with pytest.raises(RuntimeError, match="closed"):  # ...new ones fail
            await resource.request("GET", "/echo")
    assert statuses == [200]
    # ...and its connection closes when it ends.
    assert await async_settle(lambda: server_connections([server]), 0) == 0
    assert await async_settle(open_fds, fds) <= fds


def test_closing_lets_requests_in_flight_finish_in_threads(server: JSONServer) -> None:
    threads, fds = threading.active_count(), open_fds()
    resources = Resources([server.host])
    outcomes: list[Any] = []

    def slow() -> None:
        try:
            outcomes.append(resources.unicast("GET", "/sleep/0.3").status)
        except Exception as error:  # reported below
            outcomes.append(error)

    caller = threading.Thread(target=slow)
    caller.start()
    time.sleep(0.1)
    start = time.perf_counter()
    resources.close()
    assert time.perf_counter() - start < 0.1  # close() does not wait for it
    caller.join(5)
    assert outcomes == [200]
    with pytest.raises(RuntimeError, match="closed"):
        resources.unicast("GET", "/echo")
    assert settle(lambda: server_connections([server]), 0) == 0
    assert settle(threading.active_count, threads) == threads
    assert settle(open_fds, fds) <= fds


def test_a_closed_worker_pool_starts_no_threads() -> None:
    workers = Workers(4)
    assert workers.gather([lambda: 1, lambda: 2]) == [1, 2]
    threads = threading.active_count()
    workers.close()
    # A broadcast that passed its open check just before close() must not
    # start a new pool that nothing would shut down.
    with pytest.raises(RuntimeError, match="closed"):
        workers.gather([lambda: 1, lambda: 2])
    assert threading.active_count() <= threads
