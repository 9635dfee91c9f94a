"""AsyncShards against real servers on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

import jsonrest
from jsonrest import AsyncResources, AsyncShards
from tests.servers import ClosedPort, JSONServer


def ring(hosts: list[str], keys: int, replicas: int = 2) -> list[tuple[str, int]]:
    """Key k on `replicas` consecutive hosts of the ring, starting at k."""
    return [
        (hosts[(k + r) % len(hosts)], k) for k in range(keys) for r in range(replicas)
    ]


@pytest.mark.anyio
async def test_mapping_and_routing(servers: list[JSONServer]) -> None:
    hosts = [srv.host for srv in servers]
    async with AsyncShards(ring(hosts, 3)) as shards:
        assert len(shards) == 3
        assert shards[0] == frozenset(hosts[:2])
        assert list(shards.resources) == hosts
        for _ in range(10):
            response = await shards.unicast(1, "GET", "/echo")
            assert response.host in shards[1]
        responses = await shards.broadcast(2, "PUT", "/echo", {"k": 2})
        assert [r.host for r in responses] == [hosts[0], hosts[2]]
        assert all(r()["body"] == {"k": 2} for r in responses)
        responses = await shards.multicast([0, 1, 2], "GET", "/echo", params={"k": 1})
        assert len(responses) == 2
        covered = {r.host for r in responses}
        assert all(shards[k] & covered for k in range(3))
        assert await shards.multicast([], "GET", "/echo") == []


@pytest.mark.anyio
async def test_multicast_spreads_over_replicas(servers: list[JSONServer]) -> None:
    hosts = [srv.host for srv in servers]
    async with AsyncShards(multimap={host: ["a", "b"] for host in hosts}) as shards:
        seen = [
            (await shards.multicast(["a", "b"], "GET", "/echo"))[0].host
            for _ in range(30)
        ]
    assert set(seen) == set(hosts)


@pytest.mark.anyio
async def test_multicast_routes_around_a_down_host(
    servers: list[JSONServer], closed_port: ClosedPort
) -> None:
    dead = closed_port.host
    items = [(dead, key) for key in "abc"]
    items += [(servers[0].host, "a"), (servers[1].host, "b"), (servers[2].host, "c")]
    async with AsyncShards(items) as shards:
        # While every host is up, one host covers all keys: the dead one.
        assert shards.cover("abc") == {dead}
        with pytest.raises(jsonrest.BroadcastError) as info:
            await shards.multicast("abc", "GET", "/echo")
        assert [e.host for e in info.value.exceptions] == [dead]
        # Now it is down: the cover takes the live hosts instead.
        assert shards.cover("abc") == {srv.host for srv in servers}
        responses = await shards.multicast("abc", "GET", "/echo")
        assert sorted(r.host for r in responses) == sorted(srv.host for srv in servers)
        # A key that only the down host holds still gets it.
        only_dead = AsyncShards([(dead, "z"), (servers[0].host, "a")])
        only_dead.resources.health.failed(dead)
        assert only_dead.cover(["z", "a"]) == {dead, servers[0].host}
        await only_dead.aclose()


@pytest.mark.anyio
async def test_priority_overrides_remove_hosts(servers: list[JSONServer]) -> None:
    hosts = [srv.host for srv in servers]

    class Shunning(AsyncShards):
        def priority(self, members: Any) -> Any:
            return None if hosts[0] in members else super().priority(members)

    async with Shunning(ring(hosts, 3)) as shards:
        for _ in range(10):
            assert shards.cover([0, 1, 2]) == {hosts[1], hosts[2]}
        responses = await shards.multicast([0, 1, 2], "GET", "/echo")
        assert sorted(r.host for r in responses) == sorted(hosts[1:])
    async with Shunning([(hosts[0], "x"), (hosts[1], "y")]) as shards:
        with pytest.raises(jsonrest.NoHostAvailable, match="key 'x'"):
            shards.cover(["y", "x"])
    assert servers[0].requests == []


@pytest.mark.anyio
async def test_resources_priority_override_is_honoured(
    servers: list[JSONServer],
) -> None:
    hosts = [srv.host for srv in servers]

    class Avoiding(AsyncResources):
        def priority(self, host: str) -> Any:
            return None if host == hosts[1] else super().priority(host)

    async with AsyncShards(ring(hosts, 3)) as shards:
        await shards.resources.aclose()
        shards.resources = Avoiding(hosts)
        assert shards.cover([0, 1, 2]) == {hosts[0], hosts[2]}
        assert shards.cover([1]) == {hosts[2]}


@pytest.mark.anyio
async def test_bad_keys_fail_before_any_traffic(servers: list[JSONServer]) -> None:
    async with AsyncShards(ring([srv.host for srv in servers], 3)) as shards:
        with pytest.raises(KeyError, match="nope"):
            await shards.unicast("nope", "GET", "/echo")
        with pytest.raises(KeyError, match="nope"):
            await shards.multicast([0, "nope"], "GET", "/echo")
        with pytest.raises(KeyError):
            await shards.broadcast(99, "GET", "/echo")
    assert all(srv.requests == [] for srv in servers)


def test_construction() -> None:
    shards = AsyncShards([("a:1", "x")], multimap={"b:1": ["x", "y"], "c:1": []})
    assert dict(shards) == {"x": frozenset({"a:1", "b:1"}), "y": frozenset({"b:1"})}
    assert list(shards.resources) == ["a:1", "b:1", "c:1"]
    with pytest.raises(TypeError):
        AsyncShards([("a:1", ["unhashable"])])
    with pytest.raises(TypeError):
        AsyncShards(multimap={"a:1": "xyz"})
    with pytest.raises(ValueError, match="host"):
        AsyncShards([("not a host", "x")])
