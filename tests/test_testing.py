"""jsonrest.testing as a downstream project uses it: respx, no sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

import jsonrest
from jsonrest.testing import MockCluster

HOSTS = ["search-1:9200", "search-2:9200", "https://search-3:9243"]


def test_resources_fail_over_from_a_down_host() -> None:
    with MockCluster(HOSTS) as cluster:
        cluster[HOSTS[0]].down()
        for fake in list(cluster)[1:]:
            fake.route("GET", "/_search", json={"hits": [fake.host]})
        with jsonrest.Resources(cluster.hosts) as search:
            for _ in range(20):
                hits = search.unicast("GET", "/_search", params={"q": "plum"})()
                assert hits["hits"][0] in HOSTS[1:]
        # The down host was tried, then left alone while it backs off.
        assert 1 <= len(cluster[HOSTS[0]].requests) <= 3
        assert sum(cluster.received().values()) - len(cluster[HOSTS[0]].requests) == 20


def test_assertions_on_what_each_host_received() -> None:
    with MockCluster(HOSTS[:2]) as cluster:
        for fake in cluster:
            fake.route("PUT", "/docs/1", status=201, json={"ok": True})
        with jsonrest.Resources(cluster.hosts) as search:
            responses = search.broadcast("PUT", "/docs/1", {"title": "plum"})
        assert [r.status for r in responses] == [201, 201]
        for fake in cluster:
            fake.assert_received("PUT", "/docs/1", times=1, json={"title": "plum"})
        with pytest.raises(AssertionError, match="never received"):
            cluster[HOSTS[0]].assert_received("DELETE", "/docs/1")
        with pytest.raises(AssertionError, match="1 times, not 2"):
            cluster[HOSTS[0]].assert_received("PUT", "/docs/1", times=2)


def test_slow_and_failing_hosts() -> None:
    with MockCluster(HOSTS[:2]) as cluster:
        cluster[HOSTS[0]].slow()
        cluster[HOSTS[1]].failing(503, retry_after=30)
        with jsonrest.Resources(cluster.hosts) as search:
            with pytest.raises(jsonrest.BroadcastError) as info:
                search.broadcast("GET", "/_health")
            assert isinstance(info.value.exceptions[0], jsonrest.Timeout)
            assert info.value.responses[HOSTS[1]].status == 503
            assert search.stats()[HOSTS[1]]["state"] == "avoided"
            cluster[HOSTS[0]].up().route("GET", "/_health", json="green")
            assert search.unicast("GET", "/_health", hosts=[HOSTS[0]])() == "green"


def test_unknown_routes_answer_404_and_wildcards_match() -> None:
    with MockCluster(["api:80"]) as cluster:
        cluster["api:80"].route("GET", "*", json="any path")
        with jsonrest.Resource("api:80") as api:
            assert api.get("/whatever") == "any path"
            with pytest.raises(jsonrest.StatusError) as info:
                api.post("/nothing")
        assert info.value.status == 404
        assert "no route POST /nothing" in info.value.body["error"]


@pytest.mark.anyio
async def test_async_shards_multicast() -> None:
    placement = {HOSTS[0]: ["a", "b"], HOSTS[1]: ["b", "c"], HOSTS[2]: ["c", "a"]}
    with MockCluster(HOSTS) as cluster:
        for fake in cluster:
            fake.route("GET", "/keys", json=fake.host)
        async with jsonrest.AsyncShards(multimap=placement) as shards:
            responses = await shards.multicast(["a", "b", "c"], "GET", "/keys")
            assert len(responses) == 2
            assert {r() for r in responses} == {r.host for r in responses}
            assert (await shards.unicast("a", "GET", "/keys")).host in placement
        assert sum(cluster.received().values()) == 3


def test_the_pytest_fixture(
    jsonrest_cluster: Callable[[Iterable[str]], MockCluster],
) -> None:
    cluster = jsonrest_cluster(["kv-1:8080", "kv-2:8080"])
    cluster["kv-1:8080"].route("GET", "/users/7", json={"id": 7})
    cluster["kv-2:8080"].route("GET", "/users/7", json={"id": 7})
    with jsonrest.Shards(
        multimap={"kv-1:8080": ["users"], "kv-2:8080": ["users"]}
    ) as kv:
        assert kv.unicast("users", "GET", "/users/7")() == {"id": 7}
    assert sum(cluster.received().values()) == 1
