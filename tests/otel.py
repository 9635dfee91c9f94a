"""OpenTelemetry's SDK with in-memory exporters, for the telemetry tests.

`Collected` holds a tracer provider whose spans end up in memory and a meter
provider read on demand; `telemetry` hands them to a cluster. Nothing is
global: the process-wide providers stay unset, so the rest of the suite runs
without telemetry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

import jsonrest

__all__ = ["Collected", "SpanKind", "StatusCode", "traceparent"]


class Collected:
    """SDK providers whose spans and metrics stay in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(
            metric_readers=[self.reader], shutdown_on_exit=False
        )
        self.telemetry = jsonrest.OpenTelemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.tracer = self.tracer_provider.get_tracer("tests")
        self._metrics: Any = None

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    # Spans -----------------------------------------------------------------

    def spans(self) -> list[ReadableSpan]:
        """Every span ended so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def only(self, name: str) -> ReadableSpan:
        (span,) = self.named(name)
        return span

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """The spans whose parent is `parent`, in the order they started."""
        assert parent.context is not None
        found = [
            span
            for span in self.spans()
            if span.parent is not None and span.parent.span_id == parent.context.span_id
        ]
        return sorted(found, key=lambda span: span.start_time or 0)

    def tree(self, span: ReadableSpan) -> Any:
        """`span` and its descendants as nested (name, kind, [children])."""
        return (
            span.name,
            span.kind,
            [self.tree(child) for child in self.children(span)],
        )

    def roots(self) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.parent is None]

    # Metrics ---------------------------------------------------------------

    def collect(self) -> None:
        """Read the metrics now: `points` and `dump` see them."""
        self._metrics = self.reader.get_metrics_data()

    def _all(self) -> Iterator[tuple[str, str, Any]]:
        data = self._metrics
        if data is None:
            return
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    yield scope_metrics.scope.name, metric.name, metric

    def points(self, name: str, scope: str | None = "jsonrest") -> list[Any]:
        """The data points of metric `name` (of instrumentation `scope`, or
        of every scope for None), as last collected."""
        found = []
        for scope_name, metric_name, metric in self._all():
            if metric_name == name and scope in (None, scope_name):
                found += metric.data.data_points
        return found

    def values(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        """Each data point of counter `name`, by its attributes."""
        return {
            frozenset((point.attributes or {}).items()): point.value
            for point in self.points(name)
        }

    def dump(self, scope: str = "jsonrest") -> str:
        """What instrumentation `scope` exported, as text: spans with their
        events, and metrics (as last collected)."""
        spans = [
            span.to_json()
            for span in self.spans()
            if span.instrumentation_scope is not None
            and span.instrumentation_scope.name == scope
        ]
        metrics = [metric.to_json() for name, _, metric in self._all() if name == scope]
        return "\n".join(spans + metrics)


def traceparent(span: ReadableSpan) -> str:
    """The `traceparent` header that names `span`."""
    assert span.context is not None
    context = span.context
    return (
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )
