"""Telemetry beyond the twins' tests: cancellation, the recording interface,
what happens without OpenTelemetry, global providers and the docs example.

The tests that need a process of their own (nothing imported, global
providers, the example that sets them) run one: OpenTelemetry's global
providers can be set once per process, and the rest of the suite runs
without them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest

import jsonrest
from jsonrest import AsyncResources, _telemetry
from tests.otel import Collected, SpanKind, StatusCode
from tests.servers import JSONServer

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env: str) -> str:
    """Run `code` in a new interpreter at the repository's root; its stdout."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OTEL_")  # as a user's process would start
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# Cancellation ---------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("call", ["unicast", "broadcast"])
async def test_a_cancelled_call_ends_its_spans(
    otel: Collected, servers: list[JSONServer], call: str
) -> None:
    hosts = [srv.host for srv in servers]
    async with AsyncResources(hosts, telemetry=otel.telemetry) as cluster:
        with anyio.move_on_after(0.2) as scope:
            await getattr(cluster, call)("GET", "/sleep/2")
        assert scope.cancelled_caught
    span = otel.only(f"{call} GET")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "cancelled"
    attempts = otel.children(span)
    assert len(attempts) == (1 if call == "unicast" else 3)
    for attempt in attempts:
        assert attempt.kind is SpanKind.CLIENT
        assert attempt.status.status_code is StatusCode.ERROR
        assert attempt.attributes["error.type"] == "cancelled"  # type: ignore[index]
    otel.collect()
    assert all(v == 0 for v in otel.values("http.client.active_requests").values())
    (call_duration,) = otel.points("jsonrest.call.duration")
    assert call_duration.attributes["error.type"] == "cancelled"


# The interface the tail-tolerance policies report into ---------------------


def test_hedges_quorum_and_budget_refusals(otel: Collected) -> None:
    record = otel.telemetry.call("unicast", "get", "/items/7?api_key=s3cret")
    with record:
        first = record.attempt(SimpleNamespace(host="search-1:9200"))
        with first:
            pass
        record.hedge("search-2:9200")
        hedged = record.attempt(SimpleNamespace(host="search-2:9200"))
        first.ended(jsonrest.Response(200, host="search-1:9200"), 0.01)
        hedged.ended(_telemetry.CANCELLED, 0.005)
        record.quorum(2, 3)
        record.budget_refused("exhausted")
    call = otel.only("unicast GET")
    assert call.attributes is not None
    assert call.attributes["jsonrest.hedges"] == 1
    assert call.attributes["jsonrest.quorum.reached"] == 2
    assert call.attributes["jsonrest.quorum.needed"] == 3
    assert call.attributes["jsonrest.budget.refused"] is True
    assert call.attributes["jsonrest.path"] == "/items/7"
    assert [event.name for event in call.events] == [
        "jsonrest.hedge",
        "jsonrest.budget.refused",
    ]
    ok, cancelled = otel.children(call)
    assert "http.request.resend_count" not in (ok.attributes or {})
    assert cancelled.attributes["http.request.resend_count"] == 1  # type: ignore[index]
    assert cancelled.attributes["error.type"] == "cancelled"  # type: ignore[index]
    otel.collect()
    hedge = {"http.request.method": "GET", "server.address": "search-2"}
    assert otel.values("jsonrest.hedges") == {
        frozenset({**hedge, "server.port": 9200}.items()): 1
    }
    assert otel.values("jsonrest.budget.refusals") == {
        frozenset(
            {
                "http.request.method": "GET",
                "jsonrest.budget.reason": "exhausted",
            }.items()
        ): 1
    }
    assert "s3cret" not in otel.dump()


def test_no_host_to_choose(otel: Collected) -> None:
    cluster = jsonrest.Resources(["a-1:80"], telemetry=otel.telemetry)
    with cluster, pytest.raises(jsonrest.NoHostAvailable):
        cluster.unicast("GET", "/x", hosts=[])
    call = otel.only("unicast GET")
    assert call.attributes is not None
    assert call.attributes["error.type"] == "NoHostAvailable"
    assert call.attributes["jsonrest.attempts"] == 0
    assert not otel.children(call)


def test_durations_use_the_advised_buckets(otel: Collected) -> None:
    record = otel.telemetry.call("unicast", "GET", "/x")
    with record:
        attempt = record.attempt(SimpleNamespace(host="a-1:80"))
        attempt.ended(jsonrest.Response(200, host="a-1:80"), 0.03)
    otel.collect()
    advised = (
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1,
        2.5,
        5,
        7.5,
        10,
    )
    for name in ("http.client.request.duration", "jsonrest.call.duration"):
        for point in otel.points(name):
            assert tuple(point.explicit_bounds) == advised


def test_unknown_methods_are_other(otel: Collected) -> None:
    with otel.telemetry.call("broadcast", "PURGE", "/cache"):
        pass
    call = otel.only("broadcast HTTP")
    assert call.attributes is not None
    assert call.attributes["http.request.method"] == "_OTHER"
    assert call.attributes["http.request.method_original"] == "PURGE"


# Off, and what it costs -----------------------------------------------------


def test_off_unless_configured() -> None:
    # This process never sets OpenTelemetry's global providers.
    assert _telemetry.current() is _telemetry.OFF
    for setting in (None, True, False):
        with jsonrest.Resources(["a-1:80"], telemetry=setting) as cluster:
            assert cluster._record("unicast", "GET", "/") is _telemetry.NO_CALL


@pytest.mark.parametrize("value", ["yes", 1, object()])
def test_telemetry_must_be_none_false_or_open_telemetry(value: object) -> None:
    with pytest.raises(TypeError, match="telemetry must be None"):
        jsonrest.Resources(["a-1:80"], telemetry=value)
    with pytest.raises(TypeError, match="telemetry must be None"):
        jsonrest.AsyncShards([("a-1:80", "k")], telemetry=value)


def test_nothing_is_imported_without_it() -> None:
    out = run_python(
        textwrap.dedent(
            """
            import sys

            import jsonrest
            from jsonrest.testing import MockCluster

            with MockCluster(["a-1:80", "a-2:80"]) as cluster:
                for fake in cluster:
                    fake.route("*", "*", json={})
                with jsonrest.Resources(cluster.hosts) as resources:
                    resources.unicast("GET", "/x")
                    resources.broadcast("GET", "/x")
                with jsonrest.Shards([("a-1:80", "k")]) as shards:
                    shards.multicast(["k"], "GET", "/x")
                with jsonrest.Resource("a-1:80") as resource:
                    resource.get("/x")
            loaded = [m for m in sys.modules if m.split(".")[0] == "opentelemetry"]
            assert not loaded, loaded
            assert "jsonrest._otel" not in sys.modules

            sys.modules["opentelemetry"] = None  # as if the extra were missing
            try:
                jsonrest.OpenTelemetry()
            except ImportError as exc:
                assert 'pip install "jsonrest[otel]"' in str(exc), exc
            else:
                raise AssertionError("no ImportError")
            print("ok")
            """
        )
    )
    assert out == "ok\n"


def test_global_providers_and_httpx_with_its_default_conventions() -> None:
    out = run_python(
        textwrap.dedent(
            """
            from opentelemetry import metrics, trace
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )

            import jsonrest
            from jsonrest import _telemetry
            from tests.servers import JSONServer

            with JSONServer() as server, jsonrest.Resources([server.host]) as api:
                api.unicast("GET", "/echo")  # before any provider: nothing
                assert _telemetry.current() is _telemetry.OFF

                exporter = InMemorySpanExporter()
                tracer_provider = TracerProvider()
                tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(tracer_provider)
                reader = InMemoryMetricReader()
                metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
                HTTPXClientInstrumentor().instrument()

                echo = api.unicast("GET", "/echo")()
            spans = {span.name: span for span in exporter.get_finished_spans()}
            assert sorted(s.name for s in exporter.get_finished_spans()) == [
                "GET", "GET", "unicast GET"
            ]
            assert echo["headers"]["traceparent"]
            names = set()
            for resource_metrics in reader.get_metrics_data().resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        names.add((scope_metrics.scope.name, metric.name))
            # httpx's instrumentation names its metric by the older
            # conventions: each exchange is counted once in each name.
            assert ("jsonrest", "http.client.request.duration") in names
            httpx = "opentelemetry.instrumentation.httpx"
            assert (httpx, "http.client.request.duration") not in names
            assert (httpx, "http.client.duration") in names
            print("ok")
            """
        )
    )
    assert out == "ok\n"


def docs_example() -> str:
    """The OpenTelemetry example of docs/observability.md."""
    text = (ROOT / "docs" / "observability.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    (example,) = [code for code in blocks if "set_tracer_provider" in code]
    return str(example)


def test_the_docs_example_prints_spans_and_metrics() -> None:
    out = run_python(docs_example())
    assert '"name": "unicast GET"' in out
    assert '"kind": "SpanKind.CLIENT"' in out
    assert '"name": "http.client.request.duration"' in out
    assert "plum" not in out  # the query stays out
