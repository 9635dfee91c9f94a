"""Discovery against real servers on 127.0.0.1: membership follows a source
(a callable, SRV records of a real DNS server, the cluster's own member
list, a name resolved by the system) under traffic, losing nothing."""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import jsonrest
from jsonrest import AsyncResources
from jsonrest._concurrency import AsyncWorkers
from tests.reliability.twins import async_runtime, async_sleep, async_threads
from tests.servers import ClosedPort, JSONServer

pytest.importorskip("dns", reason="the SRV tests need dnspython (jsonrest[dns])")

from tests.dnsserver import DNSServer  # after the skip: needs dnspython

NAME_ONLY_CERT = Path(__file__).parent.parent / "localhost-name-only.pem"
SERVICE = "_http._tcp.search.jsonrest.test."


@pytest.fixture
def five() -> Iterator[list[JSONServer]]:
    servers = [JSONServer() for _ in range(5)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def dns_server() -> Iterator[DNSServer]:
    with DNSServer() as server:
        yield server


def callers() -> int:
    """50 tasks on an event loop, 8 threads on the blocking twin."""
    return 8 if async_runtime() == "threads" else 50


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "jsonrest" and r.levelno == logging.WARNING
    ]


async def wait_for(condition: Callable[[], bool], within: float = 3.0) -> float:
    """Wait until `condition()` holds; the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"still false after {within} s")
        await async_sleep(0.01)
    return time.monotonic() - start


class Traffic:
    """Callers sending GETs with unique request ids until told to stop."""

    def __init__(self, resources: AsyncResources) -> None:
        self.resources = resources
        self.sent: list[str] = []
        self.failed: list[BaseException] = []
        self.done = False

    def changes(self, membership: Callable[[], Any]) -> Callable[[], Any]:
        """`membership`, then the callers stop, however it ended."""

        async def run() -> None:
            try:
                await membership()
            finally:
                self.done = True

        return run

    async def caller(self) -> None:
        while not self.done:
            request_id = uuid.uuid4().hex
            self.sent.append(request_id)
            try:
                response = await self.resources.unicast(
                    "GET", "/echo", headers={"X-Request-Id": request_id}
                )
                assert response.status == 200
            except Exception as exc:
                self.failed.append(exc)
            await async_sleep(0.001)


def received(servers: list[JSONServer]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for server in servers:
        for request_id, count in server.ids.items():
            counts[request_id] = counts.get(request_id, 0) + count
    return counts


# A callable --------------------------------------------------------------------


@pytest.mark.anyio
async def test_membership_follows_a_callable_under_traffic(
    five: list[JSONServer],
) -> None:
    hosts = [server.host for server in five]
    answer = hosts[:2]
    refresh = 0.15
    async with AsyncResources(
        discover=lambda: list(answer), refresh=refresh, min_refresh=0.05
    ) as resources:
        assert list(resources) == hosts[:2]  # asked on entry
        traffic = Traffic(resources)

        async def membership() -> None:
            nonlocal answer
            for new in (hosts[1:4], hosts[3:], [hosts[0], hosts[4]]):
                await async_sleep(0.1)
                before = {h: len(s.requests) for h, s in zip(hosts, five, strict=True)}
                answer = new
                # Members exactly as answered, within one refresh (and slack
                # for a loaded machine).
                took = await wait_for(lambda: set(resources) == set(new))  # noqa: B023
                assert took < refresh + 1.0
                # New hosts get traffic.
                await wait_for(
                    lambda: all(
                        len(s.requests) > before[h]  # noqa: B023
                        for h, s in zip(hosts, five, strict=True)
                        if h in new  # noqa: B023
                    )
                )
                # Hosts removed get none once their calls in flight end.
                await async_sleep(0.1)
                gone = [s for h, s in zip(hosts, five, strict=True) if h not in new]
                counts = [len(s.requests) for s in gone]
                await async_sleep(0.2)
                assert [len(s.requests) for s in gone] == counts

        outcomes = await AsyncWorkers(callers() + 1).gather(
            [traffic.changes(membership)] + [traffic.caller] * callers()
        )
        assert outcomes == [None] * (callers() + 1)
        stats = resources.discovery_stats()
    assert traffic.failed == []
    # Nothing lost, nothing sent twice.
    assert received(five) == dict.fromkeys(traffic.sent, 1)
    assert stats is not None
    assert stats["failures"] == 0
    assert stats["added"] == 6
    assert stats["removed"] == 4


@pytest.mark.anyio
async def test_hosts_given_are_kept_until_the_first_answer(
    five: list[JSONServer],
) -> None:
    first, second = five[0].host, five[1].host
    resources = AsyncResources([first], discover=lambda: [second], refresh=60)
    assert list(resources) == [first]
    # Outside `async with`, the first call asks the source first.
    response = await resources.unicast("GET", "/echo")
    assert response.host == second
    assert list(resources) == [second]
    await resources.aclose()
    assert five[0].requests == []


@pytest.mark.anyio
async def test_a_call_without_hosts_waits_for_discovery(five: list[JSONServer]) -> None:
    answer: list[str] = []
    async with AsyncResources(
        discover=lambda: list(answer), refresh=60, min_refresh=0.05, allow_empty=True
    ) as resources:
        assert list(resources) == []
        with pytest.raises(jsonrest.NoHostAvailable):
            await resources.unicast("GET", "/echo")
        answer = [five[0].host]
        await async_sleep(0.06)  # past min_refresh: a call may ask again
        assert (await resources.unicast("GET", "/echo")).host == five[0].host


# Failures ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_failed_discovery_keeps_members_and_warns_once(
    five: list[JSONServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jsonrest")
    good = [five[0].host, five[1].host]
    answers: list[Any] = [
        good,
        RuntimeError("registry down"),
        "127.0.0.1:1",  # a bare str: garbage
        [five[2].host, 42],  # an item that is no host
        [five[2].host, "not a host!"],
        [],  # empty, not allowed
        None,
    ]
    asked = 0

    def source() -> Any:
        nonlocal asked
        answer = answers[min(asked, len(answers) - 1)]
        asked += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with AsyncResources(
        discover=source, refresh=0.05, min_refresh=0.01
    ) as resources:
        await wait_for(lambda: asked >= len(answers) + 1)
        # Calls go on all along, on the members the last good answer named.
        assert list(resources) == good
        for _ in range(4):
            assert (await resources.unicast("GET", "/echo")).status == 200
        stats = resources.discovery_stats()
    assert stats is not None
    assert stats["failures"] >= len(answers) - 1
    assert "None" in stats["error"]
    assert warnings(caplog) == [
        "discovery from source() failed, keeping its 2 member(s): "
        "RuntimeError: registry down"
    ]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("garbage: the answer is one str" in line for line in debug)
    assert any("item 1 is 42 (int)" in line for line in debug)
    assert any("'not a host!'" in line for line in debug)
    assert any("the answer was empty" in line for line in debug)
    assert five[2].requests == []


@pytest.mark.anyio
async def test_an_empty_answer_empties_the_cluster_only_if_allowed(
    five: list[JSONServer],
) -> None:
    answer = [five[0].host]
    async with AsyncResources(
        discover=lambda: list(answer), refresh=0.05, min_refresh=0.01, allow_empty=True
    ) as resources:
        assert list(resources) == [five[0].host]
        answer = []
        await wait_for(lambda: list(resources) == [])
        with pytest.raises(jsonrest.NoHostAvailable):
            await resources.unicast("GET", "/echo")
        answer = [five[1].host]
        await wait_for(lambda: list(resources) == [five[1].host])


@pytest.mark.anyio
async def test_slow_discovery_blocks_no_call(
    five: list[JSONServer], caplog: pytest.LogCaptureFixture
) -> None:
    async def slow() -> list[str]:
        await async_sleep(3.0)
        return [five[1].host]

    start = time.monotonic()
    async with AsyncResources(
        [five[0].host], discover=slow, refresh=0.05, discover_timeout=0.5
    ) as resources:
        assert time.monotonic() - start < 2.0  # the first answer is awaited no longer
        await resources.unicast("GET", "/echo")  # the client made, warm
        for _ in range(40):  # 1.2 s at least: a second refresh fails meanwhile
            begun = time.monotonic()
            assert (await resources.unicast("GET", "/echo")).host == five[0].host
            # A call waiting on discovery would take the timeout (0.5 s) at least.
            assert time.monotonic() - begun < 0.4
            await async_sleep(0.03)
        stats = resources.discovery_stats()
    assert time.monotonic() - start < 4.0  # closing waits for no slow source
    assert stats is not None
    assert stats["failures"] >= 2
    assert "no answer within 0.5 s" in stats["error"]
    assert len(warnings(caplog)) == 1


@pytest.mark.anyio
async def test_a_host_failure_brings_a_refresh_early_but_rate_limited(
    five: list[JSONServer],
) -> None:
    with ClosedPort() as closed:
        asked: list[float] = []

        def source() -> list[str]:
            asked.append(time.monotonic())
            return [closed.host, five[0].host]

        class ClosedFirst(AsyncResources):
            # Latency-aware choice would soon leave the failing host alone:
            # each call tries it first, so that each may fail there.
            def priority(self, host: str) -> int:
                return 0 if host == closed.host else 1

        async with ClosedFirst(
            discover=source, refresh=60, min_refresh=0.3, backoff=0.01, max_backoff=0.01
        ) as resources:
            assert len(asked) == 1
            start = time.monotonic()
            # Until three early refreshes came; bounded, for a stalled machine.
            while len(asked) < 4 and time.monotonic() - start < 10.0:
                await resources.unicast("GET", "/echo")  # fails over from closed
                await async_sleep(0.01)
            elapsed = time.monotonic() - start
    # Early refreshes came (refresh is 60 s), at most one per min_refresh.
    early = asked[1:]
    assert len(early) >= 3
    assert len(early) <= elapsed / 0.3 + 1
    gaps = [later - before for before, later in itertools.pairwise(asked)]
    assert all(gap >= 0.29 for gap in gaps)


# Sniffing -----------------------------------------------------------------------


def client_urls(body: Any) -> list[str]:
    """etcd's member list: every member's client URLs."""
    return [url for member in body["members"] for url in member["clientURLs"]]


@pytest.mark.anyio
async def test_sniffing_follows_the_cluster_member_list(
    five: list[JSONServer],
) -> None:
    urls = [f"http://{server.host}" for server in five]
    for server in five:
        server.members = urls[:3]
    sniff = jsonrest.sniff("POST", "/v3/cluster/member/list", client_urls, json={})
    async with AsyncResources(
        [five[0].host], discover=sniff, refresh=0.05, min_refresh=0.01
    ) as resources:
        assert list(resources) == urls[:3]
        # A fourth member joins, the first leaves.
        for server in five:
            server.members = urls[1:4]
        await wait_for(lambda: list(resources) == urls[1:4])
        assert (await resources.unicast("GET", "/echo")).status == 200
        # A member answering an error is a failed refresh: members stay.
        for server in five:
            server.members = None  # the route answers the echo instead
        await wait_for(lambda: (resources.discovery_stats() or {})["failures"] > 0)
        assert list(resources) == urls[1:4]
    sniffs = [r for r in five[0].requests if r[1] == "/v3/cluster/member/list"]
    assert sniffs
    assert all(method == "POST" for method, _ in sniffs)


# DNS: SRV records from a real DNS server on 127.0.0.1 ------------------------


def srv_source(server: DNSServer, **options: Any) -> Any:
    return jsonrest.srv(
        SERVICE, nameservers=[server.address], port=server.port, **options
    )


def records(servers: list[JSONServer], priority: int = 10) -> list[Any]:
    return [(priority, 5, server.port, "localhost.") for server in servers]


def hosts_of(servers: list[JSONServer]) -> list[str]:
    return [f"http://localhost:{server.port}" for server in servers]


@pytest.mark.anyio
async def test_srv_records_followed_under_traffic(
    five: list[JSONServer], dns_server: DNSServer
) -> None:
    dns_server.set(SERVICE, "SRV", records(five[:2]))
    refresh = 0.15
    async with AsyncResources(
        discover=srv_source(dns_server), refresh=refresh, min_refresh=0.05
    ) as resources:
        assert set(resources) == set(hosts_of(five[:2]))
        member = resources.member(hosts_of(five)[0])
        assert member is not None
        assert (member.priority, member.weight) == (10, 5)
        traffic = Traffic(resources)

        async def membership() -> None:
            for new in (five[1:4], five[3:]):
                await async_sleep(0.1)
                before = [len(s.requests) for s in new]
                dns_server.set(SERVICE, "SRV", records(new))
                took = await wait_for(
                    lambda: set(resources) == set(hosts_of(new))  # noqa: B023
                )
                assert took < refresh + 1.0
                await wait_for(
                    lambda: all(
                        len(s.requests) > b
                        for s, b in zip(new, before, strict=True)  # noqa: B023
                    )
                )
                await async_sleep(0.1)
                gone = [s for s in five if s not in new]
                counts = [len(s.requests) for s in gone]
                await async_sleep(0.2)
                assert [len(s.requests) for s in gone] == counts

        outcomes = await AsyncWorkers(callers() + 1).gather(
            [traffic.changes(membership)] + [traffic.caller] * callers()
        )
        assert outcomes == [None] * (callers() + 1)
    assert traffic.failed == []
    assert received(five) == dict.fromkeys(traffic.sent, 1)


@pytest.mark.anyio
async def test_srv_priority_is_offered_to_the_priority_hook(
    five: list[JSONServer], dns_server: DNSServer
) -> None:
    dns_server.set(SERVICE, "SRV", records(five[:1], 20) + records(five[1:2], 10))

    class LowestSRVPriority(AsyncResources):
        def priority(self, host: str) -> Any:
            health = super().priority(host)
            member = self.member(host)
            if health is None or member is None:
                return health
            return (member.priority, health)

    async with LowestSRVPriority(discover=srv_source(dns_server)) as resources:
        for _ in range(6):
            response = await resources.unicast("GET", "/echo")
            assert response.host == hosts_of(five)[1]


@pytest.mark.anyio
async def test_srv_failures_keep_members(
    five: list[JSONServer], dns_server: DNSServer, caplog: pytest.LogCaptureFixture
) -> None:
    dns_server.set(SERVICE, "SRV", records(five[:2]))
    source = srv_source(dns_server, timeout=0.2)
    async with AsyncResources(
        discover=source, refresh=0.05, min_refresh=0.01
    ) as resources:
        expected = set(hosts_of(five[:2]))
        assert set(resources) == expected

        async def failures_grow() -> None:
            count = (resources.discovery_stats() or {})["failures"]
            await wait_for(
                lambda: (resources.discovery_stats() or {})["failures"] > count + 1
            )
            assert set(resources) == expected
            assert (await resources.unicast("GET", "/echo")).status == 200

        dns_server.garbage = True  # bytes that are no DNS message
        await failures_grow()
        dns_server.garbage = False
        dns_server.set(SERVICE, "SRV", [])  # no records: an empty answer
        await failures_grow()
        dns_server.forget(SERVICE)  # NXDOMAIN: an empty answer too
        await failures_grow()
        dns_server.delay = 0.5  # slower than refresh and the timeout
        await failures_grow()
    # One warning for the whole run of failures.
    assert len(warnings(caplog)) == 1


@pytest.mark.anyio
async def test_srv_from_a_stopped_dns_server(five: list[JSONServer]) -> None:
    with DNSServer() as server:
        server.set(SERVICE, "SRV", records(five[:1]))
        source = srv_source(server, timeout=0.2)
    async with AsyncResources(
        [five[1].host], discover=source, discover_timeout=1.0
    ) as resources:
        stats = resources.discovery_stats()
        assert list(resources) == [five[1].host]
        assert (await resources.unicast("GET", "/echo")).host == five[1].host
    assert stats is not None
    assert stats["failures"] == 1


# DNS: names the system resolves (getaddrinfo) ---------------------------------


@pytest.mark.anyio
async def test_dns_resolves_a_name_and_keeps_it(five: list[JSONServer]) -> None:
    port = five[0].port
    source = jsonrest.dns(f"localhost:{port}", family=socket.AF_INET)
    async with AsyncResources(discover=source) as resources:
        assert list(resources) == [f"http://127.0.0.1:{port}"]
        member = resources.member(f"http://127.0.0.1:{port}")
        assert member is not None
        assert member.name == "localhost"
        echo = (await resources.unicast("GET", "/echo"))()
        # Sent to the address, under the name.
        assert echo["headers"]["host"] == f"localhost:{port}"


@pytest.mark.anyio
async def test_dns_with_tls_verifies_the_name_not_the_address() -> None:
    # The certificate names localhost, not 127.0.0.1.
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(NAME_ONLY_CERT)
    trust = ssl.create_default_context(cafile=str(NAME_ONLY_CERT))
    with JSONServer(tls=server_side) as server:
        # The address alone fails verification ...
        async with AsyncResources(
            [f"https://127.0.0.1:{server.port}"], verify=trust, retries=0
        ) as by_address:
            with pytest.raises(jsonrest.TransportError, match="certificate"):
                await by_address.unicast("GET", "/echo")
        # ... the address discovered under the name passes it.
        source = jsonrest.dns(f"https://localhost:{server.port}", family=socket.AF_INET)
        async with AsyncResources(discover=source, verify=trust) as resources:
            assert list(resources) == [f"https://127.0.0.1:{server.port}"]
            echo = (await resources.unicast("GET", "/echo"))()
            assert echo["headers"]["host"] == f"localhost:{server.port}"


# Lifetime ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_closing_leaves_no_task_or_thread(five: list[JSONServer]) -> None:
    before = async_threads()
    for _ in range(3):
        async with AsyncResources(
            discover=lambda: [five[0].host], refresh=0.01, min_refresh=0.01
        ) as resources:
            await resources.unicast("GET", "/echo")
            await async_sleep(0.05)
        assert resources.discovery_stats() is not None
    # (<=: threads of slow sources in earlier tests may end meanwhile.)
    await wait_for(lambda: async_threads() <= before)
    # A closed cluster stops discovering.
    refreshes = (resources.discovery_stats() or {})["refreshes"]
    await async_sleep(0.1)
    assert (resources.discovery_stats() or {})["refreshes"] == refreshes
