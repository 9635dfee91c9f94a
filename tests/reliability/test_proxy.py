"""The fault proxy on command: each fault, forced on the next connection, looks
to a client as it should, and the server behind counts what reached it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import jsonrest
from jsonrest import AsyncResources, Resource, Resources
from tests.reliability.proxy import FAULTS, FaultProxy
from tests.servers import JSONServer


@pytest.fixture
def proxied(server: JSONServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.port) as proxy:
        yield proxy


def post(proxy: FaultProxy, ident: str) -> jsonrest.Response:
    with Resource(proxy.host, timeout=0.3, limit=0) as resource:
        return resource.request(
            "POST", "/echo", {"id": ident}, headers={"X-Request-Id": ident}
        )


# fault -> (what the client sees, how many times the server got the request)
EXPECTED: dict[str, tuple[type[Exception] | int, int]] = {
    "none": (200, 1),
    "refuse": (jsonrest.TransportError, 0),
    "reset_before": (jsonrest.TransportError, 0),
    "reset_after": (jsonrest.TransportError, 1),
    "truncate": (jsonrest.TransportError, 1),
    "stall": (jsonrest.Timeout, 0),
    "busy": (503, 0),
    "garbage": (jsonrest.DecodeError, 0),
}


def test_every_fault_is_covered() -> None:
    assert set(EXPECTED) | {"dribble"} == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_a_forced_fault(server: JSONServer, proxied: FaultProxy, fault: str) -> None:
    outcome, received = EXPECTED[fault]
    proxied.force(fault)
    if isinstance(outcome, int):
        response = post(proxied, fault)
        assert response.status == outcome
        if fault == "busy":
            assert response.headers["retry-after"] == "1"
    else:
        with pytest.raises(outcome):
            post(proxied, fault)()
    assert server.ids[fault] == received
    assert proxied.injected[fault] == 1
    # The next connection is faithful again.
    assert post(proxied, "after")()["body"] == {"id": "after"}


def test_faults_at_random_are_seeded(server: JSONServer) -> None:
    weights = {"none": 1.0, "refuse": 1.0, "busy": 1.0}
    seen = []
    for _ in range(2):
        with FaultProxy(server.port, weights, seed=42) as proxy:
            for _ in range(12):
                try:
                    post(proxy, "x")
                except jsonrest.TransportError:
                    pass
            seen.append(dict(proxy.injected))
    assert seen[0] == seen[1]
    assert set(seen[0]) == set(weights)


def test_a_killed_host_refuses_then_returns_on_its_port(server: JSONServer) -> None:
    proxy = FaultProxy(server.port)
    port = proxy.port
    with Resources([proxy.host], timeout=0.5, backoff=0.01) as resources:
        assert resources.unicast("GET", "/echo").status == 200
        proxy.stop()
        with pytest.raises(jsonrest.TransportError):
            resources.unicast("GET", "/echo")
        with FaultProxy(server.port, port=port):
            assert resources.unicast("GET", "/echo").status == 200


DEADLINE = 0.6


def within_deadline(start: float) -> None:
    elapsed = time.perf_counter() - start
    assert elapsed < DEADLINE + 0.4, f"the call took {elapsed:.2f} s"


@pytest.mark.parametrize("call", ["unicast", "broadcast"])
def test_a_dribbled_reply_is_cut_at_the_deadline(
    server: JSONServer, proxied: FaultProxy, call: str
) -> None:
    # Every read makes progress within its timeout; only the deadline, the
    # budget of the whole call, can end it (before the fix: about 30 s).
    proxied.force("dribble")
    start = time.perf_counter()
    with Resources([proxied.host], timeout=0.5, deadline=DEADLINE) as resources:
        with pytest.raises((jsonrest.Timeout, jsonrest.BroadcastError)) as info:
            getattr(resources, call)("GET", "/echo")
        within_deadline(start)
        assert "deadline" in str(
            info.value.exceptions[0] if call == "broadcast" else info.value
        )
        # Running out of deadline is not the host's fault.
        assert resources.stats()[proxied.host]["state"] == "up"


@pytest.mark.anyio
async def test_a_dribbled_reply_is_cut_at_the_deadline_async(
    server: JSONServer, proxied: FaultProxy
) -> None:
    proxied.force("dribble", "dribble")
    start = time.perf_counter()
    options = {"timeout": 0.5, "deadline": DEADLINE}
    async with AsyncResources([proxied.host], **options) as resources:
        with pytest.raises(jsonrest.Timeout):
            await resources.unicast("GET", "/echo")
        within_deadline(start)
        start = time.perf_counter()
        with pytest.raises(jsonrest.BroadcastError):
            await resources.broadcast("GET", "/echo")
        within_deadline(start)
