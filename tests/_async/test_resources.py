"""AsyncResources against real servers on 127.0.0.1, with faults injected."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

import jsonrest
from jsonrest import AsyncResources
from jsonrest._concurrency import AsyncWorkers
from tests.servers import ClosedPort, Closer, JSONServer

# Every test runs on the direct path and through httpx's client layer.
pytestmark = pytest.mark.usefixtures("both_paths")


@pytest.fixture
def slow_servers() -> Iterator[list[JSONServer]]:
    """Eight servers that each take 300 ms to answer."""
    srvs = [JSONServer(delay=0.3) for _ in range(8)]
    try:
        yield srvs
    finally:
        for srv in srvs:
            srv.stop()


def hosts_of(servers: list[JSONServer]) -> list[str]:
    return [srv.host for srv in servers]


def request_id() -> dict[str, str]:
    return {"X-Request-Id": uuid.uuid4().hex}


@pytest.mark.anyio
async def test_is_a_mapping_in_the_given_order(servers: list[JSONServer]) -> None:
    hosts = hosts_of(servers)
    async with AsyncResources(reversed(hosts), timeout=3) as resources:
        assert list(resources) == hosts[::-1]
        assert len(resources) == 3
        assert hosts[0] in resources
        assert resources[hosts[0]].host == hosts[0]
        echo = await resources[hosts[1]].get("/echo")
        assert echo["host"] == hosts[1]


@pytest.mark.anyio
async def test_broadcast_runs_in_parallel(slow_servers: list[JSONServer]) -> None:
    hosts = hosts_of(slow_servers)
    async with AsyncResources(hosts) as resources:
        start = time.perf_counter()
        responses = await resources.broadcast("GET", "/echo", params={"x": 1})
        elapsed = time.perf_counter() - start
    # In turn, the call would take at least the sum of the exchanges (each
    # holds its host's delay); at once, about the longest one. Compared with
    # each other, both stretch alike on a loaded machine.
    assert elapsed < 0.7 * sum(r.elapsed for r in responses)
    assert [r.host for r in responses] == hosts
    assert [r()["host"] for r in responses] == hosts


@pytest.mark.anyio
async def test_broadcast_returns_statuses_and_subsets(
    servers: list[JSONServer],
) -> None:
    hosts = hosts_of(servers)
    async with AsyncResources(hosts) as resources:
        responses = await resources.broadcast("PUT", "/status/409", {"a": 1})
        assert [r.status for r in responses] == [409, 409, 409]
        subset = await resources.broadcast("GET", "/echo", hosts=[hosts[2], hosts[0]])
        assert [r.host for r in subset] == [hosts[2], hosts[0]]
    assert [len(srv.requests) for srv in servers] == [2, 1, 2]


@pytest.mark.anyio
async def test_broadcast_keeps_every_response_when_a_host_fails(
    servers: list[JSONServer], closed_port: ClosedPort
) -> None:
    hosts = [*hosts_of(servers), closed_port.host]
    async with AsyncResources(hosts) as resources:
        with pytest.raises(jsonrest.BroadcastError) as info:
            await resources.broadcast("POST", "/echo", {"n": 1})
        assert resources.stats()[closed_port.host]["state"] == "down"
    error = info.value
    assert isinstance(error, jsonrest.Error)
    assert [e.host for e in error.exceptions] == [closed_port.host]
    assert isinstance(error.exceptions[0], jsonrest.TransportError)
    assert sorted(error.responses) == sorted(hosts_of(servers))
    assert all(r()["body"] == {"n": 1} for r in error.responses.values())


@pytest.mark.anyio
async def test_unicast_tries_every_host_before_it_knows_their_latency(
    servers: list[JSONServer],
) -> None:
    async with AsyncResources(hosts_of(servers)) as resources:
        first = [(await resources.unicast("GET", "/echo")).host for _ in servers]
        for _ in range(20):
            response = await resources.unicast("GET", "/echo")
            assert response()["host"] == response.host
        stats = resources.stats()
    assert sorted(first) == sorted(hosts_of(servers))
    assert all(s["latency"] > 0 for s in stats.values())


@pytest.mark.anyio
async def test_sequential_unicasts_avoid_a_slow_host(servers: list[JSONServer]) -> None:
    slow = JSONServer(delay=0.2)
    try:
        async with AsyncResources([*hosts_of(servers), slow.host]) as resources:
            for _ in range(40):
                await resources.unicast("GET", "/echo")
    finally:
        slow.stop()
    # One request measures it; in-flight counts alone would send it a quarter.
    assert len(slow.requests) <= 2


@pytest.mark.anyio
async def test_unicast_fails_over_from_a_refused_host(
    servers: list[JSONServer], closed_port: ClosedPort
) -> None:
    hosts = [*hosts_of(servers), closed_port.host]
    async with AsyncResources(hosts) as resources:
        for _ in range(100):
            response = await resources.unicast("POST", "/echo", {"n": 1})
            assert response.status == 200
        stats = resources.stats()
    # Refused connections mark the host down (1 s, doubling): tried a handful of times.
    assert 1 <= stats[closed_port.host]["requests"] <= 5
    assert stats[closed_port.host]["state"] == "down"
    assert sum(len(srv.requests) for srv in servers) == 100


@pytest.mark.anyio
async def test_a_host_that_closes_at_once_is_backed_off(
    server: JSONServer, closer: Closer
) -> None:
    async with AsyncResources([server.host, closer.host]) as resources:
        for _ in range(50):
            assert (await resources.unicast("GET", "/echo")).status == 200
    assert 1 <= closer.accepts <= 5
    assert len(server.requests) == 50


@pytest.mark.anyio
async def test_post_is_sent_at_most_once(servers: list[JSONServer]) -> None:
    ident = request_id()
    async with AsyncResources(hosts_of(servers)) as resources:
        with pytest.raises(jsonrest.TransportError) as info:
            await resources.unicast("POST", "/drop", {"n": 1}, headers=ident)
    assert sum(srv.ids[ident["X-Request-Id"]] for srv in servers) == 1
    assert len(info.value.hosts) == 1


@pytest.mark.anyio
async def test_idempotent_requests_fail_over_after_a_drop(
    servers: list[JSONServer],
) -> None:
    hosts = hosts_of(servers)
    ident = request_id()
    async with AsyncResources(hosts) as resources:
        with pytest.raises(jsonrest.TransportError) as info:
            await resources.unicast("GET", "/drop", headers=ident)
        assert sorted(info.value.hosts) == sorted(hosts)
        assert len(info.value.errors) == 3
        for host in hosts:
            assert host in str(info.value)
        # A POST the caller declares idempotent fails over too.
        with pytest.raises(jsonrest.TransportError) as info:
            await resources.unicast("POST", "/drop", idempotent=True)
        assert len(info.value.hosts) == 3
    assert [srv.ids[ident["X-Request-Id"]] for srv in servers] == [1, 1, 1]


@pytest.mark.anyio
async def test_retries_bound_the_attempts(servers: list[JSONServer]) -> None:
    async with AsyncResources(hosts_of(servers), retries=1) as resources:
        with pytest.raises(jsonrest.TransportError) as info:
            await resources.unicast("DELETE", "/drop")
    assert len(info.value.hosts) == 2
    async with AsyncResources(hosts_of(servers), retries=0) as resources:
        with pytest.raises(jsonrest.TransportError) as info:
            await resources.unicast("GET", "/drop")
    assert len(info.value.hosts) == 1


@pytest.mark.anyio
async def test_read_timeout_fails_over_only_when_idempotent(
    servers: list[JSONServer],
) -> None:
    async with AsyncResources(hosts_of(servers), timeout=0.2) as resources:
        with pytest.raises(jsonrest.Timeout) as info:
            await resources.unicast("GET", "/sleep/1")
        assert len(info.value.hosts) == 3
        with pytest.raises(jsonrest.Timeout) as info:
            await resources.unicast("PATCH", "/sleep/1", {"a": 1})
        assert len(info.value.hosts) == 1


@pytest.mark.anyio
async def test_5xx_statuses_fail_over_then_return(servers: list[JSONServer]) -> None:
    async with AsyncResources(hosts_of(servers)) as resources:
        response = await resources.unicast("GET", "/status/503")
        assert response.status == 503
        assert sum(len(srv.requests) for srv in servers) == 3
        response = await resources.unicast("POST", "/status/503")
        assert response.status == 503
        assert sum(len(srv.requests) for srv in servers) == 4
        # 4xx is the caller's problem: never retried, never marks a host down.
        response = await resources.unicast("GET", "/status/404")
        assert response.status == 404
        assert sum(len(srv.requests) for srv in servers) == 5
        assert all(s["state"] == "up" for s in resources.stats().values())


@pytest.mark.anyio
async def test_retry_after_steers_unicasts_away(servers: list[JSONServer]) -> None:
    hosts = hosts_of(servers)
    async with AsyncResources(hosts) as resources:
        response = await resources.unicast(
            "POST", "/status/503", params={"retry_after": "30"}, hosts=[hosts[0]]
        )
        assert response.status == 503
        assert resources.stats()[hosts[0]]["state"] == "avoided"
        for _ in range(20):
            assert (await resources.unicast("GET", "/echo")).host != hosts[0]
        # Not marked down: a failure-free host, only avoided while others are live.
        assert resources.stats()[hosts[0]]["failures"] == 0


@pytest.mark.anyio
async def test_deadline_bounds_the_call(servers: list[JSONServer]) -> None:
    async with AsyncResources(hosts_of(servers), timeout=5) as resources:
        start = time.perf_counter()
        with pytest.raises(jsonrest.Timeout, match="deadline"):
            await resources.unicast("GET", "/sleep/2", deadline=0.3)
        assert time.perf_counter() - start < 1.0
        # Running out of deadline says nothing about the host.
        assert all(s["state"] == "up" for s in resources.stats().values())
    async with AsyncResources(hosts_of(servers), deadline=0.3) as resources:
        with pytest.raises(jsonrest.BroadcastError) as info:
            await resources.broadcast("GET", "/sleep/2")
        assert all(isinstance(e, jsonrest.Timeout) for e in info.value.exceptions)
        assert all(s["state"] == "up" for s in resources.stats().values())


@pytest.mark.anyio
async def test_priority_override(servers: list[JSONServer]) -> None:
    hosts = hosts_of(servers)

    class Preferring(AsyncResources):
        def priority(self, host: str) -> Any:
            if host == hosts[0]:
                return None
            return 0 if host == hosts[2] else 1

    async with Preferring(hosts) as resources:
        for _ in range(10):
            assert (await resources.unicast("GET", "/echo")).host == hosts[2]
        assert (await resources.unicast("GET", "/echo", hosts=hosts[:2])).host == hosts[
            1
        ]
        with pytest.raises(jsonrest.NoHostAvailable):
            await resources.unicast("GET", "/echo", hosts=[hosts[0]])
    assert servers[0].requests == []


@pytest.mark.anyio
async def test_subsets_and_bad_subsets(servers: list[JSONServer]) -> None:
    hosts = hosts_of(servers)
    async with AsyncResources(hosts) as resources:
        for _ in range(5):
            assert (
                await resources.unicast("GET", "/echo", hosts=[hosts[1]])
            ).host == hosts[1]
        with pytest.raises(ValueError, match="not hosts"):
            await resources.unicast("GET", "/echo", hosts=["elsewhere:1"])
        with pytest.raises(TypeError):
            await resources.broadcast("GET", "/echo", hosts=hosts[0])
    assert len(servers[1].requests) == 5


@pytest.mark.anyio
async def test_no_host_available() -> None:
    async with AsyncResources() as resources:
        with pytest.raises(jsonrest.NoHostAvailable):
            await resources.unicast("GET", "/echo")
        assert await resources.broadcast("GET", "/echo") == []


@pytest.mark.anyio
async def test_many_concurrent_callers_share_one_resources(
    servers: list[JSONServer],
) -> None:
    async with AsyncResources(hosts_of(servers)) as resources:

        async def caller(index: int) -> int:
            for _ in range(10):
                echo = (await resources.unicast("GET", "/echo", params={"i": index}))()
                assert echo["query"] == {"i": [str(index)]}
            return index

        results = await AsyncWorkers(16).gather([partial(caller, i) for i in range(16)])
        assert results == list(range(16))
        assert all(s["in_flight"] == 0 for s in resources.stats().values())
    assert sum(len(srv.requests) for srv in servers) == 160
    # A host not measured yet is tried first; after that each host's share
    # follows its latency (a busy machine's hiccup may keep one away for a
    # while), so what is certain is that every host took part.
    assert all(srv.requests for srv in servers)


@pytest.mark.anyio
async def test_add_and_discard_during_traffic(servers: list[JSONServer]) -> None:
    first, second, third = hosts_of(servers)
    async with AsyncResources([first, second]) as resources:

        async def traffic() -> int:
            ok = 0
            for _ in range(30):
                ok += (await resources.unicast("GET", "/sleep/0.01")).status == 200
            return ok

        async def membership() -> int:
            resources.add(third)
            resources.discard(first)
            await resources.unicast("GET", "/echo", hosts=[third])
            resources.add(first)
            resources.discard(second)
            resources.discard("never-there:1")
            return 0

        results = await AsyncWorkers(4).gather([traffic, traffic, membership, traffic])
        assert results == [30, 30, 0, 30]
        assert list(resources) == [third, first]
        assert second not in resources
        # The discarded host's pool closed once its requests ended.
        await resources.unicast("GET", "/echo")
        assert not resources.health.reapable()
        with pytest.raises(ValueError, match="not hosts"):
            await resources.unicast("GET", "/echo", hosts=[second])


@pytest.mark.anyio
async def test_discarded_idle_host_is_closed(servers: list[JSONServer]) -> None:
    first, second, _ = hosts_of(servers)
    async with AsyncResources([first, second]) as resources:
        gone = resources[first]
        await resources.broadcast("GET", "/echo")
        resources.discard(first)
        await resources.unicast("GET", "/echo")
        with pytest.raises(RuntimeError, match="closed"):
            await gone.get("/echo")


@pytest.mark.anyio
async def test_closed_resources_refuse_calls(server: JSONServer) -> None:
    resources = AsyncResources([server.host])
    await resources.unicast("GET", "/echo")
    await resources.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await resources.unicast("GET", "/echo")
    with pytest.raises(RuntimeError, match="closed"):
        await resources.broadcast("GET", "/echo")
    with pytest.raises(RuntimeError, match="closed"):
        resources.add("other:1")


def test_bad_construction() -> None:
    with pytest.raises(TypeError, match="iterable"):
        AsyncResources("a:1")
    with pytest.raises(ValueError, match="host"):
        AsyncResources(["a:1", "http://b/path?q"])
    with pytest.raises(TypeError, match="option"):
        AsyncResources(["a:1"], no_such_option=1)
    with pytest.raises(ValueError, match="retries"):
        AsyncResources(["a:1"], retries=-1)
    with pytest.raises(ValueError, match="deadline"):
        AsyncResources(["a:1"], deadline=0)


def test_a_thousand_hosts_are_cheap() -> None:
    start = time.perf_counter()
    resources = AsyncResources([f"https://h{i}.example:443" for i in range(1000)])
    assert len(resources) == 1000
    clients = [resources[f"https://h{i}.example:443"].client for i in range(50)]
    # One TLS context shared by every client (httpx builds one per client).
    assert time.perf_counter() - start < 1.0
    assert len(clients) == 50


@pytest.mark.anyio
async def test_closing_while_in_use_ends_every_caller_cleanly(
    servers: list[JSONServer],
) -> None:
    resources = AsyncResources(hosts_of(servers))

    async def traffic() -> str:
        try:
            for _ in range(1000):
                await resources.unicast("GET", "/sleep/0.01")
        except RuntimeError as error:
            return str(error)
        return "never closed"

    async def closer() -> str:
        for _ in range(5):
            await resources.unicast("GET", "/sleep/0.01")
        await resources.aclose()
        return "closed it"

    outcomes = await AsyncWorkers(8).gather([traffic] * 7 + [closer])
    assert outcomes == ["AsyncResources is closed"] * 7 + ["closed it"]
