"""Regressions of the many-host path, each through the public API.

Each section is one bug, numbered as in the issue; each test says what the code
did before the call plan (`jsonrest/_call.py`) and checks what it must do.
Servers listen on 127.0.0.1 only and each test stops what it starts. Waits for
another task or thread poll a condition (`async_eventually`) rather than racing
a sleep.
"""

from __future__ import annotations

import collections
import math
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

import httpx
import pytest

import jsonrest
from jsonrest import AsyncResource, AsyncResources
from jsonrest._concurrency import AsyncWorkers
from tests.reliability.twins import async_runtime, async_sleep
from tests.servers import LOCALHOST, ClosedPort, JSONServer

#: How far past its deadline a call may end (the library promises less).
SLACK = 0.5


def hosts_of(servers: Sequence[JSONServer]) -> list[str]:
    return [srv.host for srv in servers]


async def async_eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition()` holds, letting other tasks (or threads) run."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"still false after {timeout} s"
        await async_sleep(0.002)


class StampedServer(JSONServer):
    """A JSONServer that notes when (`time.monotonic()`) each request arrived."""

    def __init__(self, delay: float = 0.0) -> None:
        self.stamps: list[float] = []
        super().__init__(delay=delay)

    def _record(self, method: str, path: str, request_id: str | None) -> None:
        self.stamps.append(time.monotonic())
        super()._record(method, path, request_id)


class FullBacklog:
    """A port of 127.0.0.1 that listens, but whose accept queue is full.

    With a backlog of 0 the kernel queues one connection; once it is queued,
    every further SYN is dropped, so a connect hangs until its timeout.
    """

    def __init__(self) -> None:
        self._sock = socket.create_server((LOCALHOST, 0), backlog=0)
        self.port = self._sock.getsockname()[1]
        self.host = f"{LOCALHOST}:{self.port}"
        self._fillers: list[socket.socket] = []
        try:
            for _ in range(3):
                filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self._fillers.append(filler)
                filler.setblocking(False)
                filler.connect_ex((LOCALHOST, self.port))
            self._wait_connected(self._fillers[0])
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _wait_connected(sock: socket.socket) -> None:
        # The first filler's handshake completes at once on loopback: then the
        # accept queue is full.
        end = time.monotonic() + 5.0
        while sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            try:
                sock.getpeername()
                return
            except OSError:
                assert time.monotonic() < end, "the accept queue never filled"
                time.sleep(0.001)
        raise AssertionError("could not fill the accept queue")

    def stop(self) -> None:
        for filler in self._fillers:
            filler.close()
        self._sock.close()

    def __enter__(self) -> FullBacklog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def four_servers() -> Iterator[list[JSONServer]]:
    srvs = [JSONServer() for _ in range(4)]
    try:
        yield srvs
    finally:
        for srv in srvs:
            srv.stop()


# Bug 1: discard(B) while a unicast fails over from A --------------------------


@pytest.mark.anyio
async def test_discard_during_failover_skips_the_discarded_host(
    servers: list[JSONServer], closed_port: ClosedPort
) -> None:
    # Before: bare KeyError from Health.priority (the default priority) when
    # the failover chose among hosts that included the discarded one.
    refused = closed_port.host
    dropped, fallback, _ = hosts_of(servers)

    class Steered(AsyncResources):
        def choice(self, hosts: Sequence[str]) -> str:
            if refused in hosts:
                return refused  # the first attempt: refused
            self.discard(dropped)  # discarded between the attempts
            return super().choice(hosts)

    async with Steered([refused, dropped, fallback]) as resources:
        response = await resources.unicast("POST", "/echo", {"n": 1})
        assert dropped not in resources
    assert response.host == fallback
    assert response()["body"] == {"n": 1}
    assert [len(srv.requests) for srv in servers] == [0, 1, 0]


@pytest.mark.anyio
async def test_discard_during_failover_with_a_priority_that_ignores_health(
    servers: list[JSONServer],
) -> None:
    # Before: an endless busy loop, choosing the discarded host again and again
    # (here cut off by the priority after 1000 questions).
    busy, dropped, fallback = hosts_of(servers)
    order = [busy, dropped, fallback]
    asked: list[str] = []

    class Ranked(AsyncResources):
        def priority(self, host: str) -> Any:
            asked.append(host)
            if len(asked) > 1000:
                raise AssertionError(f"asked for {len(asked)} priorities: spinning")
            return order.index(host)  # whatever the health or the membership

    async def on_response(response: httpx.Response) -> None:
        if response.url.port == servers[0].port:
            resources.discard(dropped)  # between the 503 and the failover

    async with Ranked(order, event_hooks={"response": [on_response]}) as resources:
        response = await resources.unicast("GET", "/status/503")
    assert response.status == 503
    assert response.host == fallback
    assert [len(srv.requests) for srv in servers] == [1, 0, 1]


# Bug 2: discard(B) between a broadcast's start and B's send ------------------


@pytest.mark.anyio
async def test_discard_during_a_broadcast_skips_the_host_and_keeps_the_rest(
    four_servers: list[JSONServer],
) -> None:
    # Before: bare KeyError for the discarded host, and every response lost.
    # The third host is discarded after the broadcast took its snapshot of the
    # hosts and before any of its requests starts: the workers' gather is
    # where the call hands its hosts over, so the discard goes there, and the
    # interleaving is the same on every backend and every run.
    hosts = hosts_of(four_servers)
    third = hosts[2]

    async with AsyncResources(hosts, max_workers=1) as resources:
        gather = resources._workers.gather

        async def discard_then_gather(calls: Any) -> Any:
            resources.discard(third)
            return await gather(calls)

        resources._workers.gather = discard_then_gather  # type: ignore[method-assign]
        responses = await resources.broadcast("POST", "/echo", {"n": 2})
        assert third not in resources
    assert [r.host for r in responses] == [hosts[0], hosts[1], hosts[3]]
    assert all(r()["body"] == {"n": 2} for r in responses)
    assert [len(srv.requests) for srv in four_servers] == [1, 1, 0, 1]


# Bug 3: choice/unicast racing add/discard while a host is down ----------------


@pytest.mark.anyio
async def test_choice_and_unicast_race_add_and_discard(
    server: JSONServer, closed_port: ClosedPort
) -> None:
    # Before (blocking twin): RuntimeError "dictionary changed size during
    # iteration" from the health check that scans every host while one is
    # down. The 300 extra hosts are never sent to (only chosen among).
    extra = [f"{LOCALHOST}:{port}" for port in range(20_000, 20_300)]
    down = closed_port.host
    members = [*extra, server.host, down]
    seconds = 1.0 if async_runtime() == "threads" else 0.2
    async with AsyncResources(members, backoff=30.0, max_backoff=60.0) as resources:
        with pytest.raises(jsonrest.TransportError):
            await resources.unicast("GET", "/echo", hosts=[down])
        assert resources.stats()[down]["state"] == "down"
        end = time.monotonic() + seconds

        async def choose() -> int:
            count = 0
            while time.monotonic() < end:
                # Long runs without yielding: threads switch inside the scans.
                for _ in range(50):
                    assert resources.choice(members) in members
                count += 50
                await async_sleep(0)
            return count

        async def send() -> int:
            count = 0
            while time.monotonic() < end:
                response = await resources.unicast("GET", "/echo", hosts=[server.host])
                assert response.status == 200
                count += 1
            return count

        async def churn(first: int) -> int:
            count = 0
            while time.monotonic() < end:
                batch = [f"{LOCALHOST}:{first + i}" for i in range(20)]
                for host in batch:
                    resources.add(host)
                await async_sleep(0)  # others run while the membership is larger
                for host in batch:
                    resources.discard(host)
                count += 1
                await async_sleep(0)
            return count

        calls: list[Callable[[], Any]] = [
            partial(churn, 30_000),
            partial(churn, 31_000),
            send,
            *[choose] * 5,
        ]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # threads switch often, inside the scans too
        try:
            outcomes = await AsyncWorkers(8).gather(calls)
        finally:
            sys.setswitchinterval(interval)
        assert list(resources) == members
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failures, failures
    assert all(count > 0 for count in outcomes)


# Bug 5: an unreadable Retry-After ---------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    "retry_after",
    ["²", "Wed, 21 Oct 20150000000000000000 07:28:00 GMT"],
    ids=["superscript-two", "year-of-20-digits"],
)
async def test_an_unreadable_retry_after_is_ignored(
    servers: list[JSONServer], status: int, retry_after: str
) -> None:
    # Before: "²" passed str.isdigit() and then float() raised ValueError; the
    # date raised OverflowError; either escaped the call, losing the response.
    hosts = hosts_of(servers)
    path = f"/status/{status}"
    params = {"retry_after": retry_after}
    async with AsyncResources(hosts) as resources:
        response = await resources.unicast("GET", path, params=params, hosts=hosts[:1])
        assert response.status == status
        assert response.headers["retry-after"] == retry_after
        responses = await resources.broadcast("GET", path, params=params)
        assert [r.status for r in responses] == [status] * 3
        assert [r.host for r in responses] == hosts
        assert all(s["state"] == "up" for s in resources.stats().values())


# Bug 7: deadlines that waited for a turn or a worker -------------------------


@pytest.mark.anyio
async def test_a_call_waiting_for_max_in_flight_ends_at_its_deadline(
    server: JSONServer,
) -> None:
    # Before (blocking twin): the second call waited for the gate up to the
    # pool timeout, then sent its request after its deadline.
    async with AsyncResources([server.host], max_in_flight=1, timeout=3.0) as resources:

        async def slow() -> int:
            return (await resources.unicast("GET", "/sleep/1.5")).status

        async def late() -> tuple[float, object]:
            await async_eventually(lambda: server.active == 1)  # the gate is taken
            start = time.monotonic()
            outcome: object
            try:
                outcome = await resources.unicast("GET", "/echo", deadline=0.5)
            except jsonrest.Error as error:
                outcome = error
            return time.monotonic() - start, outcome

        first, (elapsed, outcome) = await AsyncWorkers(2).gather([slow, late])
    assert first == 200
    assert isinstance(outcome, jsonrest.Timeout), f"{outcome!r} after {elapsed:.2f} s"
    assert "deadline of 0.5 s exceeded" in str(outcome)
    assert elapsed < 0.5 + SLACK
    assert server.requests == [("GET", "/sleep/1.5")]  # the late one never sent


@pytest.mark.anyio
async def test_a_queued_broadcast_starts_no_host_after_its_deadline() -> None:
    # Before (blocking twin): with one worker the hosts queued, and the last
    # was sent long after the deadline (received at 0.8 s, call over at 1.2 s).
    servers = [StampedServer(delay=0.4) for _ in range(4)]
    try:
        async with AsyncResources(hosts_of(servers), max_workers=1) as resources:
            start = time.monotonic()
            errors: list[Exception] = []
            try:
                responses = await resources.broadcast("GET", "/echo", deadline=0.5)
            except jsonrest.BroadcastError as error:
                responses = list(error.responses.values())
                errors = list(error.exceptions)
            elapsed = time.monotonic() - start
    finally:
        for srv in servers:
            srv.stop()
    assert elapsed < 0.5 + SLACK
    # 50 ms for the server to note a request sent just before the deadline.
    late = [t - start for srv in servers for t in srv.stamps if t - start > 0.55]
    assert not late, f"requests received {late} s after the call began"
    assert all(r.status == 200 for r in responses)
    assert len(responses) + len(errors) == 4
    for exc in errors:
        assert isinstance(exc, jsonrest.Timeout), repr(exc)
        assert "deadline of 0.5 s exceeded" in str(exc)


# Bug 9: a connect cut short by the deadline ----------------------------------


@pytest.mark.anyio
async def test_a_connect_cut_short_by_the_deadline_does_not_blame_the_host() -> None:
    # Before (blocking twin): each call's ConnectTimeout, shortened to fit the
    # deadline, marked the host down: failures 1, 2, 3, state "down".
    with FullBacklog() as hole:
        async with AsyncResources([hole.host], timeout=5.0) as resources:
            for _ in range(3):
                start = time.monotonic()
                with pytest.raises(jsonrest.Timeout):
                    await resources.unicast("GET", "/echo", deadline=0.3)
                assert time.monotonic() - start < 0.3 + SLACK
            stats = resources.stats()[hole.host]
    assert stats["requests"] == 3
    assert (stats["state"], stats["failures"]) == ("up", 0)


# Bug 10: a burst of concurrent failures --------------------------------------


@pytest.mark.anyio
async def test_a_burst_of_failures_costs_one_backoff_step(
    closed_port: ClosedPort,
) -> None:
    # Before: each of the 20 failures doubled the backoff: "down for 27.6 s
    # (failure 10)". The request hook holds every request until all 20 have
    # started, so they fail together on either twin.
    started: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        started.append(request.url.path)
        await async_eventually(lambda: len(started) >= 20)

    async with AsyncResources(
        [closed_port.host],
        retries=0,
        backoff=1.0,
        max_backoff=30.0,
        event_hooks={"request": [on_request]},
    ) as resources:

        async def call() -> object:
            try:
                return await resources.unicast("GET", "/echo")
            except jsonrest.Error as error:
                return error

        outcomes = await AsyncWorkers(20).gather([call] * 20)
        stats = resources.stats()[closed_port.host]
    assert all(type(o) is jsonrest.TransportError for o in outcomes), outcomes
    assert stats["requests"] == 20
    assert stats["state"] == "down"
    assert stats["until"] - time.time() <= 1.0  # the first step of the backoff


# Bug 11: hosts whose priority is None ----------------------------------------


@pytest.mark.anyio
async def test_a_refused_post_with_no_other_candidate_raises_its_transport_error(
    servers: list[JSONServer], closed_port: ClosedPort
) -> None:
    # Before: the hosts whose priority is None counted as failover candidates,
    # and the call raised NoHostAvailable instead, without .hosts or .errors.
    only = closed_port.host

    class OnlyOne(AsyncResources):
        def priority(self, host: str) -> Any:
            return 0 if host == only else None

    async with OnlyOne([only, *hosts_of(servers)]) as resources:
        with pytest.raises(jsonrest.TransportError) as info:
            await resources.unicast("POST", "/echo", {"n": 1})
    assert info.value.hosts == (only,)
    assert len(info.value.errors) == 1
    assert [len(srv.requests) for srv in servers] == [0, 0, 0]


@pytest.mark.anyio
async def test_a_503_with_no_other_candidate_is_returned(
    servers: list[JSONServer],
) -> None:
    # Before: NoHostAvailable, losing the 503 that did arrive.
    only = servers[0].host

    class OnlyOne(AsyncResources):
        def priority(self, host: str) -> Any:
            return 0 if host == only else None

    async with OnlyOne(hosts_of(servers)) as resources:
        response = await resources.unicast("GET", "/status/503")
    assert (response.status, response.host) == (503, only)
    assert [len(srv.requests) for srv in servers] == [1, 0, 0]


# Bug 12: rate-limited before down --------------------------------------------


@pytest.mark.anyio
async def test_a_rate_limited_host_is_chosen_before_a_down_host(
    server: JSONServer, closed_port: ClosedPort
) -> None:
    # Before: the down host won 20 of 20 picks, its backoff ending before the
    # other's Retry-After.
    limited, down = server.host, closed_port.host
    async with AsyncResources([limited, down], backoff=5.0) as resources:
        response = await resources.unicast(
            "GET", "/status/429", params={"retry_after": "30"}, hosts=[limited]
        )
        assert response.status == 429
        with pytest.raises(jsonrest.TransportError):
            await resources.unicast("GET", "/echo", hosts=[down])
        stats = resources.stats()
        assert (stats[limited]["state"], stats[down]["state"]) == ("avoided", "down")
        picks = [resources.choice([limited, down]) for _ in range(20)]
        picks += [resources.choice([down, limited]) for _ in range(20)]
    assert collections.Counter(picks) == {limited: 40}


# Bug 14: a timeout too long to use -------------------------------------------


@pytest.mark.parametrize("timeout", [math.inf, 1e300, httpx.Timeout(1.0, read=1e300)])
def test_a_timeout_too_long_to_use_is_refused_at_construction(
    closed_port: ClosedPort, timeout: Any
) -> None:
    # Before: accepted, and the first request raised a bare OverflowError.
    with pytest.raises(ValueError, match="timeout"):
        AsyncResource(closed_port.host, timeout=timeout)
    with pytest.raises(ValueError, match="timeout"):
        AsyncResources([closed_port.host], timeout=timeout)


# Bug 16: the cause of a call that failed after one attempt -------------------


@pytest.mark.anyio
async def test_a_call_failing_after_one_attempt_chains_the_httpx_error(
    closed_port: ClosedPort,
) -> None:
    # Before: the error was its own __cause__ (a cycle) and .errors was empty.
    async with AsyncResources([closed_port.host]) as resources:
        with pytest.raises(jsonrest.TransportError) as info:
            await resources.unicast("GET", "/echo")
    error = info.value
    chain: list[BaseException] = []
    cause = error.__cause__
    while cause is not None:
        assert all(cause is not seen for seen in [error, *chain]), "a cycle"
        chain.append(cause)
        cause = cause.__cause__
    assert chain, "no cause"
    assert isinstance(chain[0], httpx.ConnectError), chain
    assert error.hosts == (closed_port.host,)
    assert len(error.errors) == 1
    assert isinstance(error.errors[0], jsonrest.TransportError)


# Bug 18: a broadcast past its deadline, as both twins report it ---------------


@pytest.mark.anyio
async def test_a_broadcast_past_its_deadline_reports_the_deadline_on_every_host(
    servers: list[JSONServer],
) -> None:
    # Before (blocking twin): "ReadTimeout talking to ...: timed out" for each
    # host, where the async twin said "deadline of 0.5 s exceeded".
    hosts = hosts_of(servers)
    async with AsyncResources(hosts) as resources:
        start = time.monotonic()
        with pytest.raises(jsonrest.BroadcastError) as info:
            await resources.broadcast("GET", "/sleep/2", deadline=0.5)
        assert time.monotonic() - start < 0.5 + SLACK
        assert all(s["state"] == "up" for s in resources.stats().values())
    errors = info.value.exceptions
    assert all(isinstance(e, jsonrest.Timeout) for e in errors), errors
    assert sorted(getattr(e, "host", "?") for e in errors) == sorted(hosts)
    for error in errors:
        assert "deadline of 0.5 s exceeded" in str(error), error
    assert info.value.responses == {}


# Bug 19: what a first request's latency includes -----------------------------


@pytest.mark.anyio
async def test_latency_of_a_first_request_excludes_making_the_client(
    server: JSONServer,
) -> None:
    # Before: stats() counted the making of the host's client (its TLS context
    # among it: about 20 ms here) in the first request's latency, where
    # Response.elapsed did not.
    async with AsyncResource(server.host) as warm:  # first-connection imports
        await warm.request("GET", "/echo")
    async with AsyncResources([server.host]) as resources:
        first = await resources.unicast("GET", "/echo")
        mean = resources.stats()[server.host]["mean_latency"]
        second = await resources.unicast("GET", "/echo")
    assert mean == pytest.approx(first.elapsed, abs=0.005)
    assert first.elapsed < 0.05 + 5 * second.elapsed


@pytest.mark.anyio
async def test_nothing_is_sent_when_making_the_client_outlasts_the_deadline(
    four_servers: list[JSONServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the interleaving test: a host's client (and the cluster's TLS
    # context) is made at its first request, after the deadline was checked;
    # a blocking thread then sent the request late. Making the client is made
    # slow here so that it always outlasts the deadline.
    server = four_servers[0]
    make = AsyncResource._make_client

    def slow_make(self: AsyncResource, options: dict[str, Any]) -> Any:
        time.sleep(0.2)
        return make(self, options)

    monkeypatch.setattr(AsyncResource, "_make_client", slow_make)
    async with AsyncResources([server.host], deadline=0.05) as resources:
        with pytest.raises(jsonrest.Timeout, match=r"deadline of 0\.05 s exceeded"):
            await resources.unicast("GET", "/echo")
        assert resources.stats()[server.host]["state"] == "up"
    assert server.requests == []
