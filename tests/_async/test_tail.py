"""Tail tolerance against real servers on 127.0.0.1: hedged unicasts, quorum
broadcasts, the retry budget and outlier ejection, on both twins."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

import jsonrest
from jsonrest import AsyncResources, AsyncShards
from tests.servers import JSONServer, wait_until

pytestmark = pytest.mark.usefixtures("both_paths")

#: The async twin cancels a race's losers; the blocking one lets them finish.
#: (A plain string: the generator rewrites names, not text.)
PREFIX = "Async"


@pytest.fixture
def slow_and_fast() -> Iterator[tuple[JSONServer, JSONServer]]:
    """A host that answers after 0.5 s and one that answers at once."""
    slow, fast = JSONServer(delay=0.5), JSONServer()
    try:
        yield slow, fast
    finally:
        slow.stop()
        fast.stop()


def cancels(resources: object) -> bool:
    return type(resources).__name__.startswith(PREFIX)


def in_flight(resources: AsyncResources) -> list[int]:
    return [s["in_flight"] for s in resources.stats().values()]


@pytest.mark.anyio
async def test_a_hedge_wins_and_the_loser_leaves_nothing_behind(
    slow_and_fast: tuple[JSONServer, JSONServer],
) -> None:
    slow, fast = slow_and_fast
    async with AsyncResources([slow.host, fast.host], hedge=0.05) as resources:
        await resources[fast.host].get("/echo")  # connected: timing is the call's
        start = time.perf_counter()
        response = await resources.unicast("GET", "/echo", hosts=[slow.host, fast.host])
        took = time.perf_counter() - start
        assert response.host == fast.host or took < 0.45
        while response.host != fast.host:  # the slow host was tried second
            response = await resources.unicast("GET", "/echo")
        assert took < 0.45
        if cancels(resources):
            assert in_flight(resources) == [0, 0]
        wait_until(lambda: in_flight(resources) == [0, 0], 2.0)
        # The loser's connection was closed (cancelled) or returned to the
        # pool (left to finish): none is left half-used.
        wait_until(lambda: slow.open_connections <= 1, 2.0)
        assert (await resources[slow.host].get("/echo"))["host"] == slow.host
    wait_until(lambda: slow.open_connections == 0, 2.0)


@pytest.mark.anyio
async def test_a_post_is_hedged_only_when_it_may_be_sent_twice(
    slow_and_fast: tuple[JSONServer, JSONServer],
) -> None:
    slow, fast = slow_and_fast
    async with AsyncResources([slow.host], hedge=0.01) as resources:
        resources.add(fast.host)
        await resources.unicast("POST", "/echo", {"n": 1}, hosts=[slow.host, fast.host])
        posts = len(slow.requests) + len(fast.requests)
        assert posts == 1
        for _ in range(4):  # until the slow host comes first
            await resources.unicast(
                "POST", "/echo", {"n": 2}, idempotent=True, hedge=0.01
            )
    assert len(slow.requests) + len(fast.requests) >= posts + 4
    assert len(slow.requests) >= 1


@pytest.mark.anyio
async def test_a_per_call_hedge_overrides_the_instance(
    slow_and_fast: tuple[JSONServer, JSONServer],
) -> None:
    slow, fast = slow_and_fast
    async with AsyncResources([slow.host, fast.host]) as resources:
        calls = [await resources.unicast("GET", "/echo", hedge=0.02) for _ in range(3)]
        assert all(response.status == 200 for response in calls)
        with pytest.raises(ValueError, match="hedge"):
            await resources.unicast("GET", "/echo", hedge="soon")
    assert len(slow.requests) <= 2  # tried once; then its estimate keeps it away


@pytest.mark.anyio
async def test_a_quorum_returns_early_and_leaves_nothing_running() -> None:
    servers = [JSONServer(), JSONServer(), JSONServer(), JSONServer(delay=1.0)]
    hosts = [server.host for server in servers]
    try:
        async with AsyncResources(hosts) as resources:
            start = time.perf_counter()
            responses = await resources.broadcast("GET", "/echo", quorum=3)
            took = time.perf_counter() - start
            assert took < 0.8
            assert sorted(r.host for r in responses) == sorted(hosts[:3])
            if cancels(resources):
                assert in_flight(resources) == [0, 0, 0, 0]
            wait_until(lambda: in_flight(resources) == [0, 0, 0, 0], 2.0)
            sent = sum(len(server.requests) for server in servers)
            with pytest.raises(jsonrest.BroadcastError, match="quorum of 5"):
                await resources.broadcast("GET", "/echo", quorum=5)
            with pytest.raises(ValueError, match="quorum"):
                await resources.broadcast("GET", "/echo", quorum=0)
            assert sum(len(server.requests) for server in servers) == sent
    finally:
        for server in servers:
            server.stop()


@pytest.mark.anyio
async def test_a_quorum_out_of_reach_raises_broadcast_error(
    servers: list[JSONServer],
) -> None:
    async with AsyncResources([server.host for server in servers]) as resources:
        with pytest.raises(jsonrest.BroadcastError, match="quorum of 2") as caught:
            await resources.broadcast("GET", "/status/503", quorum=2)
    assert all(isinstance(e, jsonrest.StatusError) for e in caught.value.exceptions)


@pytest.mark.anyio
async def test_shards_broadcast_takes_a_quorum_and_multicast_refuses_it(
    servers: list[JSONServer],
) -> None:
    placement = [(server.host, "users") for server in servers]
    async with AsyncShards(placement) as shards:
        responses = await shards.broadcast("users", "GET", "/echo", quorum=2)
        assert len(responses) == 2
        with pytest.raises(TypeError, match="quorum"):
            await shards.multicast(["users"], "GET", "/echo", quorum=2)


@pytest.mark.anyio
async def test_the_retry_budget_stops_retries_and_says_so(
    servers: list[JSONServer], caplog: pytest.LogCaptureFixture
) -> None:
    for server in servers:
        server.status = 503
    budget = jsonrest.RetryBudget(ratio=0, per_second=0.1, window=10)  # 1 retry
    hosts = [server.host for server in servers]
    async with AsyncResources(hosts, retry_budget=budget) as resources:
        with caplog.at_level(logging.WARNING, "jsonrest"):
            first = await resources.unicast("GET", "/echo")
            second = await resources.unicast("GET", "/echo")
        stats = resources.stats()
    assert first.status == second.status == 503
    assert sum(len(server.requests) for server in servers) == 3  # 2 + 1
    assert "retry budget is exhausted" in caplog.text
    assert stats.retry_budget is not None
    assert stats.retry_budget["refused"] == 2


class FirstChoice(AsyncResources):
    """Prefers `first` while it is live: every call tries it first."""

    first = ""

    def priority(self, host: str) -> Any:
        rank = super().priority(host)
        return None if rank is None else (rank[0], host != self.first)


@pytest.mark.anyio
async def test_a_host_answering_502_is_ejected_and_gets_no_post(
    servers: list[JSONServer],
) -> None:
    proxy = servers[0]
    proxy.status = 502
    async with FirstChoice([server.host for server in servers]) as resources:
        resources.first = proxy.host
        for _ in range(30):
            assert (await resources.unicast("GET", "/echo")).status == 200
        gets = len(proxy.requests)
        # 5 in a row eject it; let back after its backoff, a GET probes it
        assert 5 <= gets <= 7
        assert resources.stats()[proxy.host]["probation"]
        for _ in range(20):
            response = await resources.unicast("POST", "/echo", {"n": 1})
            assert response.status == 200
    assert len(proxy.requests) == gets  # no POST was risked on it


@pytest.mark.anyio
async def test_without_outlier_ejection_a_502_host_is_tried_first_every_time(
    servers: list[JSONServer],
) -> None:
    proxy = servers[0]
    proxy.status = 502
    hosts = [server.host for server in servers]
    async with FirstChoice(hosts, outliers=None) as resources:
        resources.first = proxy.host
        for _ in range(20):
            await resources.unicast("GET", "/echo")
    assert len(proxy.requests) == 20
