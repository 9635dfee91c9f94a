"""OpenTelemetry spans, metrics and trace context, against servers on 127.0.0.1.

Each test gives its cluster `telemetry=jsonrest.OpenTelemetry(...)` with SDK
providers that keep everything in memory (`tests.otel`); the process-wide
providers are never set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import jsonrest
from jsonrest import AsyncResources, AsyncShards
from tests.otel import Collected, SpanKind, StatusCode, traceparent
from tests.servers import ClosedPort, JSONServer

SECRET_QUERY = {"api_key": "s3cret-query"}
SECRET_HEADERS = {"Authorization": "Bearer s3cret-token", "Cookie": "id=s3cret-cookie"}
SECRET_BODY = {"password": "s3cret-body"}


def assert_no_secrets(otel: Collected) -> None:
    otel.collect()
    exported = otel.dump()
    assert exported  # something was exported, or this proves nothing
    for secret in ("s3cret", "api_key", "Bearer", "password", "id="):
        assert secret not in exported


class FirstChoice(AsyncResources):
    """Tries the hosts in the order given: the test decides who fails first."""

    def priority(self, host: str) -> Any:
        return list(self).index(host)


@pytest.fixture
def closed() -> Iterator[ClosedPort]:
    with ClosedPort() as port:
        yield port


@pytest.mark.anyio
async def test_unicast_with_one_failover(
    otel: Collected, server: JSONServer, closed: ClosedPort
) -> None:
    hosts = [closed.host, server.host]
    async with FirstChoice(hosts, telemetry=otel.telemetry) as cluster:
        response = await cluster.unicast(
            "POST",
            "/echo",
            SECRET_BODY,
            params=SECRET_QUERY,
            headers=SECRET_HEADERS,
        )
    assert response.status == 200
    call = otel.only("unicast POST")
    assert otel.tree(call) == (
        "unicast POST",
        SpanKind.INTERNAL,
        [("POST", SpanKind.CLIENT, []), ("POST", SpanKind.CLIENT, [])],
    )
    assert call.parent is None
    assert call.status.status_code is StatusCode.UNSET
    assert call.attributes is not None
    assert call.attributes["jsonrest.hosts"] == tuple(hosts)
    assert call.attributes["jsonrest.attempts"] == 2
    assert call.attributes["jsonrest.failovers"] == 1
    assert call.attributes["jsonrest.failover.reasons"] == ("ConnectError",)
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["jsonrest.path"] == "/echo"
    events = {event.name: event.attributes for event in call.events}
    assert events["jsonrest.failover"] == {
        "jsonrest.failover.from": closed.host,
        "jsonrest.failover.to": (server.host,),
        "error.type": "ConnectError",
    }
    assert events["jsonrest.host.down"]["jsonrest.host"] == closed.host  # type: ignore[index]

    failed, answered = otel.children(call)
    assert dict(failed.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": closed.port,
        "url.scheme": "http",
        "url.full": f"http://{closed.host}/echo",
        "url.path": "/echo",
        "jsonrest.host": closed.host,
        "error.type": "ConnectError",
    }
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    assert dict(answered.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "url.scheme": "http",
        "url.full": f"http://{server.host}/echo",
        "url.path": "/echo",
        "jsonrest.host": server.host,
        "http.request.resend_count": 1,
        "http.response.status_code": 200,
    }
    assert answered.status.status_code is StatusCode.UNSET
    # The server got the answering attempt's span as its parent.
    assert response()["headers"]["traceparent"] == traceparent(answered)

    otel.collect()
    durations = {
        frozenset((point.attributes or {}).items()): point.count
        for point in otel.points("http.client.request.duration")
    }
    assert durations == {
        frozenset(
            {
                "http.request.method": "POST",
                "server.address": "127.0.0.1",
                "server.port": closed.port,
                "url.scheme": "http",
                "error.type": "ConnectError",
            }.items()
        ): 1,
        frozenset(
            {
                "http.request.method": "POST",
                "server.address": "127.0.0.1",
                "server.port": server.port,
                "url.scheme": "http",
                "http.response.status_code": 200,
            }.items()
        ): 1,
    }
    assert all(
        value == 0 for value in otel.values("http.client.active_requests").values()
    )
    assert otel.values("jsonrest.failovers") == {
        frozenset(
            {
                "http.request.method": "POST",
                "server.address": "127.0.0.1",
                "server.port": closed.port,
                "error.type": "ConnectError",
            }.items()
        ): 1
    }
    assert otel.values("jsonrest.host.transitions") == {
        frozenset(
            {
                "server.address": "127.0.0.1",
                "server.port": closed.port,
                "jsonrest.host.state": "down",
            }.items()
        ): 1
    }
    (call_duration,) = otel.points("jsonrest.call.duration")
    assert call_duration.count == 1
    assert dict(call_duration.attributes) == {
        "jsonrest.call.kind": "unicast",
        "http.request.method": "POST",
    }
    assert_no_secrets(otel)
    # stats() is as it was.
    assert cluster.stats()[closed.host]["failures"] == 1


@pytest.mark.anyio
async def test_failover_after_a_503_names_the_status(
    otel: Collected, servers: list[JSONServer]
) -> None:
    hosts = [srv.host for srv in servers[:2]]
    async with FirstChoice(hosts, telemetry=otel.telemetry) as cluster:
        await cluster.unicast("GET", "/status/503")
    call = otel.only("unicast GET")
    assert call.attributes is not None
    assert call.attributes["jsonrest.failover.reasons"] == ("503",)
    # Both hosts said 503: the call returned the last answer, an error status.
    assert call.attributes["http.response.status_code"] == 503
    assert call.attributes["error.type"] == "503"
    assert call.status.status_code is StatusCode.ERROR
    for attempt in otel.children(call):
        assert attempt.attributes is not None
        assert attempt.attributes["error.type"] == "503"
        assert attempt.status.status_code is StatusCode.ERROR


@pytest.mark.anyio
async def test_broadcast_with_one_failing_host(
    otel: Collected, server: JSONServer, closed: ClosedPort
) -> None:
    hosts = [server.host, closed.host]
    async with AsyncResources(hosts, telemetry=otel.telemetry) as cluster:
        with pytest.raises(jsonrest.BroadcastError) as caught:
            await cluster.broadcast(
                "GET", "/echo", params=SECRET_QUERY, headers=SECRET_HEADERS
            )
    call = otel.only("broadcast GET")
    assert otel.tree(call) == (
        "broadcast GET",
        SpanKind.INTERNAL,
        [("GET", SpanKind.CLIENT, []), ("GET", SpanKind.CLIENT, [])],
    )
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == "BroadcastError"
    assert set(call.attributes["jsonrest.hosts"]) == set(hosts)  # type: ignore[arg-type]
    assert "exception" in [event.name for event in call.events]
    by_host = {
        (span.attributes or {})["jsonrest.host"]: span for span in otel.children(call)
    }
    assert by_host[closed.host].attributes["error.type"] == "ConnectError"  # type: ignore[index]
    ok = by_host[server.host]
    assert ok.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert "http.request.resend_count" not in ok.attributes  # type: ignore[operator]
    answer = caught.value.responses[server.host]
    assert answer()["headers"]["traceparent"] == traceparent(ok)
    otel.collect()
    assert not otel.points("jsonrest.failovers")  # a broadcast fails over nowhere
    assert_no_secrets(otel)


@pytest.mark.anyio
async def test_multicast_with_a_second_round(
    otel: Collected, servers: list[JSONServer], closed: ClosedPort
) -> None:
    one, two = servers[0].host, servers[1].host
    placement = [(closed.host, "a"), (one, "a"), (two, "b")]

    class ClosedFirst(AsyncShards):
        def priority(self, host: str) -> Any:
            return 0 if host == closed.host else 1

    async with ClosedFirst(placement, telemetry=otel.telemetry) as shards:
        responses = await shards.multicast(
            ["a", "b"], "GET", "/echo", params=SECRET_QUERY
        )
    assert {response.host for response in responses} == {one, two}
    call = otel.only("multicast GET")
    assert call.parent is None
    assert otel.tree(call) == (
        "multicast GET",
        SpanKind.INTERNAL,
        [
            (
                "broadcast GET",
                SpanKind.INTERNAL,
                [("GET", SpanKind.CLIENT, []), ("GET", SpanKind.CLIENT, [])],
            ),
            ("broadcast GET", SpanKind.INTERNAL, [("GET", SpanKind.CLIENT, [])]),
        ],
    )
    assert call.status.status_code is StatusCode.UNSET
    assert call.attributes is not None
    assert call.attributes["jsonrest.multicast.rounds"] == 2
    assert call.attributes["jsonrest.failover.reasons"] == ("ConnectError",)
    assert set(call.attributes["jsonrest.hosts"]) == {closed.host, one, two}  # type: ignore[arg-type]
    first, second = otel.children(call)
    assert first.attributes["jsonrest.multicast.round"] == 1  # type: ignore[index]
    assert second.attributes["jsonrest.multicast.round"] == 2  # type: ignore[index]
    otel.collect()
    # One call: the rounds are not counted as calls of their own.
    (call_duration,) = otel.points("jsonrest.call.duration")
    assert call_duration.attributes["jsonrest.call.kind"] == "multicast"
    assert call_duration.count == 1
    assert sum(otel.values("jsonrest.failovers").values()) == 1
    assert_no_secrets(otel)


@pytest.mark.anyio
async def test_a_call_past_its_deadline(otel: Collected, server: JSONServer) -> None:
    async with AsyncResources([server.host], telemetry=otel.telemetry) as cluster:
        with pytest.raises(jsonrest.Timeout):
            await cluster.unicast("GET", "/sleep/2", deadline=0.2)
    call = otel.only("unicast GET")
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == "deadline_exceeded"
    (attempt,) = otel.children(call)
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.attributes["error.type"] == "deadline_exceeded"  # type: ignore[index]
    otel.collect()
    assert all(
        value == 0 for value in otel.values("http.client.active_requests").values()
    )
    (call_duration,) = otel.points("jsonrest.call.duration")
    assert call_duration.attributes["error.type"] == "deadline_exceeded"


@pytest.mark.anyio
async def test_calls_in_a_span_are_its_children(
    otel: Collected, server: JSONServer
) -> None:
    async with AsyncResources([server.host], telemetry=otel.telemetry) as cluster:
        with otel.tracer.start_as_current_span("request handler") as outer:
            await cluster.unicast("GET", "/echo")
            await cluster.broadcast("GET", "/echo")
    assert [span.name for span in otel.roots()] == ["request handler"]
    assert otel.tree(otel.only("request handler")) == (
        "request handler",
        SpanKind.INTERNAL,
        [
            ("unicast GET", SpanKind.INTERNAL, [("GET", SpanKind.CLIENT, [])]),
            ("broadcast GET", SpanKind.INTERNAL, [("GET", SpanKind.CLIENT, [])]),
        ],
    )
    assert (
        outer.get_span_context().trace_id == otel.only("unicast GET").context.trace_id
    )  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_one_resource_carries_the_current_span(
    otel: Collected, server: JSONServer
) -> None:
    # No span of its own (a Resource makes no calls), but the context goes on.
    async with jsonrest.AsyncResource(server.host) as resource:
        assert "traceparent" not in (await resource.get("/echo"))["headers"]
        with otel.tracer.start_as_current_span("handler"):
            echo = await resource.get("/echo")
    assert echo["headers"]["traceparent"] == traceparent(otel.only("handler"))


@pytest.mark.anyio
async def test_telemetry_false_records_nothing(
    otel: Collected, server: JSONServer
) -> None:
    async with AsyncResources([server.host], telemetry=False) as cluster:
        await cluster.unicast("GET", "/echo")
        with otel.tracer.start_as_current_span("handler"):
            echo = (await cluster.unicast("GET", "/echo"))()
    assert [span.name for span in otel.spans()] == ["handler"]
    # The caller's own span still goes to the server, as with any client.
    assert echo["headers"]["traceparent"] == traceparent(otel.only("handler"))


@pytest.mark.anyio
async def test_a_given_traceparent_is_kept(otel: Collected, server: JSONServer) -> None:
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    given = [{"TraceParent": mine, "X-A": "1"}, httpx.Headers([("traceparent", mine)])]
    async with AsyncResources([server.host], telemetry=otel.telemetry) as cluster:
        for headers in given:
            echo = (await cluster.unicast("GET", "/echo", headers=headers))()
            assert echo["headers"]["traceparent"] == mine
        # Other headers given keep their company: the span's context joins them.
        echo = (await cluster.unicast("GET", "/echo", headers={"X-A": "1"}))()
    assert echo["headers"]["x-a"] == "1"
    assert echo["headers"]["traceparent"] == traceparent(otel.named("GET")[-1])


@pytest.fixture
def httpx_instrumented(
    otel: Collected, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """opentelemetry-instrumentation-httpx on, with the stable HTTP conventions,
    in which it records `http.client.request.duration` as jsonrest does."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    )
    try:
        yield
    finally:
        instrumentor.uninstrument()


@pytest.mark.anyio
async def test_with_httpx_instrumented(
    otel: Collected, httpx_instrumented: None, server: JSONServer, closed: ClosedPort
) -> None:
    hosts = [closed.host, server.host]
    async with FirstChoice(hosts, telemetry=otel.telemetry) as cluster:
        response = await cluster.unicast(
            "GET", "/echo", params=SECRET_QUERY, headers=SECRET_HEADERS
        )
    call = otel.only("unicast GET")
    # httpx's spans nest under jsonrest's attempts, one per exchange.
    assert otel.tree(call) == (
        "unicast GET",
        SpanKind.INTERNAL,
        [
            ("GET", SpanKind.CLIENT, [("GET", SpanKind.CLIENT, [])]),
            ("GET", SpanKind.CLIENT, [("GET", SpanKind.CLIENT, [])]),
        ],
    )
    failed, answered = otel.children(call)
    for attempt in (failed, answered):
        assert attempt.instrumentation_scope.name == "jsonrest"  # type: ignore[union-attr]
        (exchange,) = otel.children(attempt)
        scope = exchange.instrumentation_scope
        assert scope.name == "opentelemetry.instrumentation.httpx"  # type: ignore[union-attr]
    # The server's parent span is the innermost: httpx's, under the attempt.
    (exchange,) = otel.children(answered)
    assert response()["headers"]["traceparent"] == traceparent(exchange)
    otel.collect()
    # Each exchange is measured once in http.client.request.duration, whoever
    # measures it: here httpx's instrumentation (which leaves failed ones out).
    points = otel.points("http.client.request.duration", scope=None)
    assert sum(point.count for point in points) == 1
    assert not otel.points("http.client.request.duration")  # none of jsonrest's
    # jsonrest's own metrics stay.
    assert sum(otel.values("jsonrest.failovers").values()) == 1
    (call_duration,) = otel.points("jsonrest.call.duration")
    assert call_duration.count == 1
    assert_no_secrets(otel)


@pytest.mark.anyio
async def test_a_host_down_then_up(otel: Collected, server: JSONServer) -> None:
    async with AsyncResources([server.host], telemetry=otel.telemetry) as cluster:
        with pytest.raises(jsonrest.TransportError):
            await cluster.unicast("GET", "/drop")  # the connection drops: down
        await cluster.unicast("GET", "/echo")  # the only host, down: tried, up
    dropped, answered = otel.named("unicast GET")
    assert [event.name for event in dropped.events] == [
        "jsonrest.host.down",
        "exception",
    ]
    assert [event.name for event in answered.events] == ["jsonrest.host.up"]
    otel.collect()
    states = {
        dict(key)["jsonrest.host.state"]: count
        for key, count in otel.values("jsonrest.host.transitions").items()
    }
    assert states == {"down": 1, "up": 1}


@pytest.mark.anyio
async def test_an_unexpected_exception_is_recorded_as_itself(otel: Collected) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug in a transport")

    transport = httpx.MockTransport(broken)
    async with AsyncResources(
        ["a-1:80"], transport=transport, telemetry=otel.telemetry
    ) as cluster:
        with pytest.raises(RuntimeError):
            await cluster.unicast("GET", "/x")
    call = otel.only("unicast GET")
    (attempt,) = otel.children(call)
    for span in (call, attempt):
        assert span.attributes["error.type"] == "RuntimeError"  # type: ignore[index]
        assert span.status.status_code is StatusCode.ERROR
        assert "exception" in [event.name for event in span.events]


@pytest.mark.anyio
async def test_clusters_share_one_recorder_per_provider(
    otel: Collected, server: JSONServer, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        telemetry = jsonrest.OpenTelemetry(
            tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
        )
        async with AsyncResources([server.host], telemetry=telemetry) as cluster:
            await cluster.unicast("GET", "/echo")
    assert "created already" not in caplog.text
    otel.collect()
    (point,) = otel.points("jsonrest.call.duration")
    assert point.count == 2


# Tail tolerance ---------------------------------------------------------------


@pytest.mark.anyio
async def test_a_hedge_is_an_event_and_a_counter(otel: Collected) -> None:
    slow, fast = JSONServer(delay=0.5), JSONServer()
    try:
        hosts = [slow.host, fast.host]
        async with FirstChoice(hosts, hedge=0.05, telemetry=otel.telemetry) as cluster:
            response = await cluster.unicast("GET", "/echo")
        assert response.host == fast.host
    finally:
        slow.stop()
        fast.stop()
    call = otel.only("unicast GET")
    assert call.attributes is not None
    assert call.attributes["jsonrest.hedges"] == 1
    (hedge,) = call.events
    assert hedge.name == "jsonrest.hedge"
    assert hedge.attributes == {"jsonrest.host": fast.host}
    otel.collect()
    assert sum(otel.values("jsonrest.hedges").values()) == 1


@pytest.mark.anyio
async def test_a_quorum_broadcast_says_how_many_answered(
    otel: Collected, servers: list[JSONServer]
) -> None:
    hosts = [srv.host for srv in servers]
    async with AsyncResources(hosts, telemetry=otel.telemetry) as cluster:
        responses = await cluster.broadcast("GET", "/echo", quorum=2)
    assert len(responses) == 2
    call = otel.only("broadcast GET")
    assert call.attributes is not None
    assert call.attributes["jsonrest.quorum.reached"] == 2
    assert call.attributes["jsonrest.quorum.needed"] == 2


@pytest.mark.anyio
async def test_a_retry_the_budget_refused(otel: Collected) -> None:
    failing = [JSONServer(status=503), JSONServer(status=503)]
    budget = jsonrest.RetryBudget(ratio=0, per_second=0)  # no retry at all
    try:
        hosts = [srv.host for srv in failing]
        async with AsyncResources(
            hosts, retry_budget=budget, telemetry=otel.telemetry
        ) as cluster:
            response = await cluster.unicast("GET", "/echo")
        assert response.status == 503
        assert sum(len(srv.requests) for srv in failing) == 1
    finally:
        for srv in failing:
            srv.stop()
    call = otel.only("unicast GET")
    assert call.attributes is not None
    assert call.attributes["jsonrest.budget.refused"] is True
    assert [event.name for event in call.events] == ["jsonrest.budget.refused"]
    otel.collect()
    assert otel.values("jsonrest.budget.refusals") == {
        frozenset(
            {"http.request.method": "GET", "jsonrest.budget.reason": "retry"}.items()
        ): 1
    }
