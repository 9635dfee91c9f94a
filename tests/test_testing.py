"""jsonrest.testing as a downstream project uses it: respx, no sockets.

Only jsonrest's public API, jsonrest.testing, respx and pytest: this file could
sit in any project that depends on jsonrest[testing].
"""

from __future__ import annotations

import subprocess
import sys
import time

import anyio
import httpx
import pytest
import respx

import jsonrest
from jsonrest.testing import ClusterFactory, MockCluster

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
    jsonrest_cluster: ClusterFactory,
) -> None:
    cluster = jsonrest_cluster(["kv-1:8080", "kv-2:8080"])
    cluster["kv-1:8080"].route("GET", "/users/7", json={"id": 7})
    cluster["kv-2:8080"].route("GET", "/users/7", json={"id": 7})
    with jsonrest.Shards(
        multimap={"kv-1:8080": ["users"], "kv-2:8080": ["users"]}
    ) as kv:
        assert kv.unicast("users", "GET", "/users/7")() == {"id": 7}
    assert sum(cluster.received().values()) == 1


@pytest.mark.anyio
async def test_async_resources_fail_over_and_broadcast() -> None:
    with MockCluster(HOSTS) as cluster:
        cluster[HOSTS[0]].down()
        for fake in list(cluster)[1:]:
            fake.route("POST", "/docs", status=201, json={"id": fake.host})
        async with jsonrest.AsyncResources(cluster.hosts, retries=2) as search:
            for _ in range(5):
                response = await search.unicast("POST", "/docs", {"title": "plum"})
                assert response.status == 201
                assert response.host in HOSTS[1:]
            with pytest.raises(jsonrest.BroadcastError) as info:
                await search.broadcast("POST", "/docs", {"title": "pear"})
        assert sorted(info.value.responses) == sorted(HOSTS[1:])
        assert isinstance(info.value.exceptions[0], jsonrest.TransportError)
        assert info.value.exceptions[0].host == HOSTS[0]
        # A refused connection sent nothing, so even a POST may go elsewhere;
        # every POST reached exactly one live host.
        live = [cluster[host] for host in HOSTS[1:]]
        assert sum(len(fake.received("POST", "/docs")) for fake in live) == 5 + 2


def test_a_share_of_requests_fails_or_is_late() -> None:
    with MockCluster(HOSTS[:1]) as cluster:
        fake = cluster[HOSTS[0]]
        fake.rng.seed(7)  # a repeatable draw
        fake.route("GET", "/_health", json="green")
        fake.failing(502, share=0.25).slow(0.05, share=0.1)
        with jsonrest.Resources(cluster.hosts, retries=0) as search:
            responses = [
                search[HOSTS[0]].request("GET", "/_health") for _ in range(200)
            ]
    failed = sum(response.status == 502 for response in responses)
    late = sum(response.elapsed >= 0.05 for response in responses)
    assert 30 <= failed <= 70  # a quarter of 200, give or take the draw
    assert 8 <= late <= 40  # a tenth
    assert all(response.status in (200, 502) for response in responses)


@pytest.mark.parametrize("share", [-0.1, 1.5, True])
def test_a_share_is_a_number_from_0_to_1(share: float) -> None:
    with MockCluster(HOSTS[:1]) as cluster, pytest.raises(ValueError, match="share"):
        cluster[HOSTS[0]].slow(0.1, share=share)


def test_hedging_past_a_host_that_stalls_now_and_then() -> None:
    """What a downstream project tests of its own hedging."""
    with MockCluster(HOSTS[:2]) as cluster:
        for fake in cluster:
            fake.route("GET", "/_search", json=fake.host)
        cluster[HOSTS[0]].rng.seed(1)  # its first request stalls
        cluster[HOSTS[0]].slow(2.0, share=0.5)
        with jsonrest.Resources(cluster.hosts, timeout=5.0, hedge=0.05) as search:
            start = time.perf_counter()
            for _ in range(10):
                search.unicast("GET", "/_search")()
            took = time.perf_counter() - start
    assert took < 2.0  # no call waited for a stall: the hedge answered first


def test_slow_with_a_delay_answers_late_or_times_out() -> None:
    with MockCluster(HOSTS[:2]) as cluster:
        for fake in cluster:
            fake.route("GET", "/_health", json=fake.host)
        cluster[HOSTS[0]].slow(0.2)
        with jsonrest.Resources(cluster.hosts, timeout=5.0) as search:
            start = time.perf_counter()
            responses = search.broadcast("GET", "/_health")
            took = time.perf_counter() - start
            assert [r() for r in responses] == HOSTS[:2]
            assert 0.2 <= took < 3  # the hosts answer in parallel
            assert responses[0].elapsed >= 0.2
        with (
            jsonrest.Resources(cluster.hosts, timeout=0.05) as search,
            pytest.raises(jsonrest.Timeout),
        ):
            search.unicast("GET", "/_health", hosts=[HOSTS[0]])


@pytest.mark.anyio
async def test_slow_with_a_delay_in_async_calls_and_deadlines() -> None:
    with MockCluster(HOSTS[:2]) as cluster:
        for fake in cluster:
            fake.route("GET", "/_health", json=fake.host)
        cluster[HOSTS[0]].slow(10)
        async with jsonrest.AsyncResources(cluster.hosts, timeout=5.0) as search:
            with anyio.fail_after(3):  # the slow host must not block the others
                with pytest.raises(jsonrest.Timeout, match="deadline"):
                    await search.unicast(
                        "GET", "/_health", hosts=[HOSTS[0]], deadline=0.1
                    )
                response = await search.unicast("GET", "/_health", hosts=[HOSTS[1]])
                assert response() == HOSTS[1]
        cluster[HOSTS[0]].slow()  # no delay: a read timeout at once
        async with jsonrest.AsyncResources(cluster.hosts) as search:
            with anyio.fail_after(3):
                with pytest.raises(jsonrest.BroadcastError) as info:
                    await search.broadcast("GET", "/_health")
        assert isinstance(info.value.exceptions[0], jsonrest.Timeout)
        assert search.stats()[HOSTS[0]]["state"] == "down"


def test_sharing_a_router_with_other_mocks(respx_mock: respx.MockRouter) -> None:
    """The cluster's hosts and any other respx route live on one router."""
    token = respx_mock.post("https://auth.example/token").respond(json={"t": "abc"})
    cluster = MockCluster(["kv-1:8080", "kv-2:8080"], router=respx_mock)
    for fake in cluster:
        fake.route(
            "GET",
            "/users/7",
            handler=lambda request: httpx.Response(
                200 if request.headers.get("authorization") == "Bearer abc" else 401,
                json={"id": 7},
            ),
        )
    bearer = httpx.post("https://auth.example/token").json()["t"]
    headers = {"Authorization": f"Bearer {bearer}"}
    with jsonrest.Shards(
        multimap={"kv-1:8080": ["users"], "kv-2:8080": ["users"]}, headers=headers
    ) as kv:
        responses = kv.broadcast("users", "GET", "/users/7")
    assert [r.status for r in responses] == [200, 200]
    assert token.call_count == 1
    assert cluster.received() == {"kv-1:8080": 1, "kv-2:8080": 1}


@pytest.mark.anyio
async def test_the_pytest_fixture_in_async_tests(
    jsonrest_cluster: ClusterFactory,
) -> None:
    cluster = jsonrest_cluster(HOSTS)
    for fake in cluster:
        fake.route("*", "/ping", json="pong")
    async with jsonrest.AsyncResource(HOSTS[2]) as one:
        assert await one.get("/ping") == "pong"
        assert await one.delete("/ping") == "pong"
    cluster[HOSTS[2]].assert_received("DELETE", "/ping", times=1)
    assert cluster.received() == {HOSTS[0]: 0, HOSTS[1]: 0, HOSTS[2]: 2}


@pytest.mark.parametrize(
    "code",
    [
        "import jsonrest.testing",
        "from jsonrest._pytest_plugin import jsonrest_cluster;"
        " jsonrest_cluster.__wrapped__().__next__()",
    ],
)
def test_without_respx_it_says_what_to_install(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.modules['respx'] = None; {code}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        'ImportError: jsonrest.testing needs respx: pip install "jsonrest[testing]"'
    )


def test_jsonrest_alone_never_imports_respx() -> None:
    code = "import sys; sys.modules['respx'] = None; import jsonrest"
    subprocess.run([sys.executable, "-c", code], timeout=60, check=True)


def test_discovery_follows_hosts_added_and_removed() -> None:
    with MockCluster(HOSTS[:2]) as cluster:
        for fake in cluster:
            fake.route("GET", "/_search", json={"hits": []})
        with jsonrest.Resources(
            discover=lambda: cluster.hosts, refresh=0.05, min_refresh=0.01
        ) as search:
            assert list(search) == HOSTS[:2]
            cluster.add("search-4:9200").route("GET", "/_search", json={"hits": [1]})
            gone = cluster.remove(HOSTS[0])
            deadline = time.monotonic() + 3
            while set(search) != {HOSTS[1], "search-4:9200"}:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            sent = len(gone.requests)
            for _ in range(8):
                assert search.unicast("GET", "/_search").status == 200
        assert len(gone.requests) == sent
        assert cluster["search-4:9200"].received("GET", "/_search")
        with pytest.raises(KeyError):
            cluster.remove(HOSTS[0])
