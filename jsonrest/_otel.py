"""OpenTelemetry spans and metrics for jsonrest's calls (the `otel` extra).

Imported by `jsonrest._telemetry` only once OpenTelemetry is in use; it needs
`opentelemetry-api` alone. A call is an INTERNAL span ("unicast GET"), each
attempt a CLIENT span under it ("GET") named and described as OpenTelemetry's
HTTP client conventions say; while an attempt is sent its span is the current
one, so an instrumentation of httpx nests its spans under it and the request
carries it as `traceparent`. Attributes never hold a body, a query string or
a header: paths and URLs are cut at their query.

Metrics: `http.client.request.duration` (seconds) and
`http.client.active_requests` per attempt, with the conventions' attributes;
`jsonrest.call.duration` per call; `jsonrest.failovers`,
`jsonrest.host.transitions`, `jsonrest.hedges` and `jsonrest.budget.refusals`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, NamedTuple

import httpx
from opentelemetry import context, metrics, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from . import __version__
from ._exceptions import Error, Timeout
from ._hosts import parse_host
from ._request import Headers
from ._response import Response
from ._telemetry import (
    CANCELLED,
    DEADLINE,
    OFF,
    AttemptRecord,
    CallRecord,
    Telemetry,
    error_type,
    is_cancellation,
)

__all__ = ["Recorder", "global_telemetry", "inject", "recorder"]

NAME = "jsonrest"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.27.0"
#: The conventions' advice for `http.client.request.duration`, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
#: The methods the conventions name; any other is "_OTHER".
METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
#: Hosts whose attributes are kept; past that the cache starts over.
MAX_HOSTS = 4096

METHOD = "http.request.method"
ADDRESS = "server.address"
PORT = "server.port"
SCHEME = "url.scheme"
STATUS = "http.response.status_code"
ERROR = "error.type"

# The call entered last in this task or thread: a broadcast made inside a
# multicast is one of its rounds.
_CALL: ContextVar[_Call | None] = ContextVar("jsonrest_call", default=None)


class _Host(NamedTuple):
    """What the attributes of a host's attempts say about it."""

    attributes: dict[str, Any]  # server.address, server.port, url.scheme
    url: str  # the origin and the base path
    base: str  # the base path


class Recorder(Telemetry):
    """Spans from the tracer, metrics from the meter, of the given providers."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer(
            NAME, __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter(NAME, __version__, meter_provider, SCHEMA_URL)
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        self.active = meter.create_up_down_counter(
            "http.client.active_requests",
            unit="{request}",
            description="Number of active HTTP requests.",
        )
        self.call_duration = meter.create_histogram(
            "jsonrest.call.duration",
            unit="s",
            description="Duration of jsonrest calls, every attempt and wait included.",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        self.failovers = meter.create_counter(
            "jsonrest.failovers",
            unit="{failover}",
            description="Calls that left a failed host for another.",
        )
        self.transitions = meter.create_counter(
            "jsonrest.host.transitions",
            unit="{transition}",
            description="Hosts marked down, or up again.",
        )
        self.hedges = meter.create_counter(
            "jsonrest.hedges",
            unit="{hedge}",
            description="Hedged attempts sent while an earlier one still ran.",
        )
        self.refusals = meter.create_counter(
            "jsonrest.budget.refusals",
            unit="{refusal}",
            description="Retries or hedges the retry budget refused.",
        )
        self._hosts: dict[str, _Host] = {}

    def call(self, kind: str, method: str, target: str) -> CallRecord:
        """A new call's record; its span starts as it is entered, under the
        span current then."""
        return _Call(self, kind, method, target)

    def host(self, host: str) -> _Host:
        """The attributes of `host` (a member's host string, already valid)."""
        known = self._hosts.get(host)
        if known is None:
            parsed = parse_host(host)
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            known = _Host(
                {ADDRESS: parsed.name, PORT: port, SCHEME: parsed.scheme},
                parsed.url + parsed.path,
                parsed.path,
            )
            if len(self._hosts) >= MAX_HOSTS:
                self._hosts = {}
            self._hosts[host] = known
        return known

    def httpx_records_duration(self) -> bool:
        """Whether opentelemetry-instrumentation-httpx records
        `http.client.request.duration` for the same exchanges: then jsonrest
        leaves that metric to it rather than count each exchange twice."""
        module = sys.modules.get("opentelemetry.instrumentation.httpx")
        if module is None:
            return False
        if not module.HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
            return False
        # The stable HTTP conventions, which name the metric so, are opted in.
        opted = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
        return bool({part.strip() for part in opted.split(",")} & {"http", "http/dup"})


class _Call(CallRecord):
    """One call's span, its attempts' spans and what they add up to."""

    __slots__ = (
        "_tokens",
        "context",
        "deadline_passed",
        "failover_reasons",
        "hedges",
        "httpx_records",
        "kind",
        "last_status",
        "method",
        "method_name",
        "original",
        "parent",
        "path",
        "quorum_seen",
        "recorder",
        "refused",
        "rounds",
        "span",
        "started",
        "tried",
    )

    def __init__(self, recorder: Recorder, kind: str, method: str, target: str) -> None:
        self.recorder = recorder
        self.kind = kind
        self.original = method if isinstance(method, str) else ""
        known = self.original.upper() in METHODS
        self.method = self.original.upper() if known else "_OTHER"
        self.method_name = self.method if known else "HTTP"
        self.path = target.split("?", 1)[0] if isinstance(target, str) else ""
        self.tried: list[str] = []
        self.failover_reasons: list[str] = []
        self.hedges = 0
        self.rounds = 0
        self.quorum_seen: tuple[int, int] | None = None
        self.refused = False
        self.deadline_passed = False
        self.last_status: int | None = None
        self.httpx_records = recorder.httpx_records_duration()
        self.parent: _Call | None = None
        self.span: Span = trace.INVALID_SPAN
        self.context: context.Context | None = None
        self.started = 0.0
        self._tokens: tuple[object, Token[_Call | None]] | None = None

    def _start(self) -> None:
        """Start the span, under the current one (a record's plan may fail
        before it is entered: then it starts none)."""
        parent = _CALL.get()
        # A broadcast inside a multicast is one of its rounds.
        if parent is not None and parent.kind == "multicast":
            self.parent = parent
        attributes: dict[str, Any] = {
            "jsonrest.call.kind": self.kind,
            METHOD: self.method,
        }
        if self.method == "_OTHER":
            attributes["http.request.method_original"] = self.original
        if self.path:
            attributes["jsonrest.path"] = self.path
        if self.parent is not None:
            self.parent.rounds += 1
            attributes["jsonrest.multicast.round"] = self.parent.rounds
        self.span = self.recorder.tracer.start_span(
            f"{self.kind} {self.method_name}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        self.context = trace.set_span_in_context(self.span)
        self.started = time.perf_counter()

    def __enter__(self) -> None:
        if self.context is None:
            self._start()
        self._tokens = (context.attach(self.context), _CALL.set(self))  # type: ignore[arg-type]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._end(exc)
        finally:
            if self._tokens is not None:
                attached, call = self._tokens
                _CALL.reset(call)
                context.detach(attached)  # type: ignore[arg-type]

    def _end(self, exc: BaseException | None) -> None:
        span = self.span
        elapsed = time.perf_counter() - self.started
        attributes: dict[str, Any] = {
            "jsonrest.hosts": tuple(self.tried),
            "jsonrest.attempts": len(self.tried),
        }
        if self.failover_reasons:
            attributes["jsonrest.failovers"] = len(self.failover_reasons)
            attributes["jsonrest.failover.reasons"] = tuple(self.failover_reasons)
        if self.hedges:
            attributes["jsonrest.hedges"] = self.hedges
        if self.rounds:
            attributes["jsonrest.multicast.rounds"] = self.rounds
        if self.quorum_seen is not None:
            reached, needed = self.quorum_seen
            attributes["jsonrest.quorum.reached"] = reached
            attributes["jsonrest.quorum.needed"] = needed
        if self.refused:
            attributes["jsonrest.budget.refused"] = True
        error: str | None = None
        if exc is not None:
            if is_cancellation(exc):
                error = CANCELLED
            else:
                expired = self.deadline_passed and isinstance(exc, Timeout)
                error = DEADLINE if expired else error_type(exc)
                span.record_exception(exc, escaped=True)
        elif self.kind == "unicast" and self.last_status is not None:
            attributes[STATUS] = self.last_status
            if self.last_status >= 400:
                error = str(self.last_status)
        if error is not None:
            attributes[ERROR] = error
            span.set_status(Status(StatusCode.ERROR, error))
        span.set_attributes(attributes)
        span.end()
        parent = self.parent
        if parent is not None:  # a round: the multicast counts as the call
            parent.tried.extend(self.tried)
            return
        measured: dict[str, Any] = {
            "jsonrest.call.kind": self.kind,
            METHOD: self.method,
        }
        if error is not None:
            measured[ERROR] = error
        self.recorder.call_duration.record(elapsed, measured)

    def attempt(self, attempt: Any) -> AttemptRecord:
        """An attempt's record; its CLIENT span starts now, under the call's."""
        if self.context is None:
            self._start()
        return _Attempt(self, attempt.host)

    def failover(self, failed: str, to: Sequence[str], reason: str | None) -> None:
        """Count a failover from `failed` and note it on the call's span."""
        reason = reason or "_OTHER"
        self.failover_reasons.append(reason)
        self.span.add_event(
            "jsonrest.failover",
            {
                "jsonrest.failover.from": failed,
                "jsonrest.failover.to": tuple(to),
                ERROR: reason,
            },
        )
        host = self.recorder.host(failed).attributes
        self.recorder.failovers.add(
            1,
            {
                METHOD: self.method,
                ADDRESS: host[ADDRESS],
                PORT: host[PORT],
                ERROR: reason,
            },
        )

    def expired(self) -> None:
        """Note that the deadline passed: a `Timeout` raised is its doing."""
        self.deadline_passed = True

    def _transition(self, host: str, state: str, event: dict[str, Any]) -> None:
        self.span.add_event(f"jsonrest.host.{state}", {"jsonrest.host": host, **event})
        attributes = self.recorder.host(host).attributes
        self.recorder.transitions.add(
            1,
            {
                ADDRESS: attributes[ADDRESS],
                PORT: attributes[PORT],
                "jsonrest.host.state": state,
            },
        )

    def host_down(self, host: str, seconds: float) -> None:
        """Count `host` marked down and note its backoff on the call's span."""
        self._transition(host, "down", {"jsonrest.backoff": seconds})

    def host_up(self, host: str) -> None:
        """Count `host` marked up again, on the call's span too."""
        self._transition(host, "up", {})

    def hedge(self, host: str) -> None:
        """Count a hedged attempt to `host`."""
        self.hedges += 1
        self.span.add_event("jsonrest.hedge", {"jsonrest.host": host})
        attributes = self.recorder.host(host).attributes
        self.recorder.hedges.add(
            1,
            {METHOD: self.method, ADDRESS: attributes[ADDRESS], PORT: attributes[PORT]},
        )

    def quorum(self, reached: int, needed: int) -> None:
        """Keep the quorum for the call's span."""
        self.quorum_seen = (reached, needed)

    def budget_refused(self, reason: str) -> None:
        """Count a refusal of the retry budget (`reason`: a few fixed words)."""
        self.refused = True
        self.span.add_event(
            "jsonrest.budget.refused", {"jsonrest.budget.reason": reason}
        )
        self.recorder.refusals.add(
            1, {METHOD: self.method, "jsonrest.budget.reason": reason}
        )


class _Attempt(AttemptRecord):
    """One attempt's CLIENT span, its duration and its place among the active."""

    __slots__ = ("_token", "call", "escaped", "measured", "span")

    def __init__(self, call: _Call, host: str) -> None:
        self.call = call
        recorder = call.recorder
        known = recorder.host(host)
        attributes: dict[str, Any] = {
            METHOD: call.method,
            **known.attributes,
            "url.full": known.url + call.path,
            "url.path": known.base + call.path,
            "jsonrest.host": host,
        }
        if call.kind == "unicast" and call.tried:  # each try after the first
            attributes["http.request.resend_count"] = len(call.tried)
        call.tried.append(host)
        self.span = recorder.tracer.start_span(
            call.method_name,
            context=call.context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self.measured = {METHOD: call.method, **known.attributes}
        recorder.active.add(1, self.measured)
        self._token: object = None
        # An exception other than jsonrest's from sending: a bug, a
        # KeyboardInterrupt; the plan sees no outcome then, as if cancelled.
        self.escaped: BaseException | None = None

    def __enter__(self) -> None:
        self._token = context.attach(trace.set_span_in_context(self.span))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        context.detach(self._token)  # type: ignore[arg-type]
        if not (exc is None or isinstance(exc, Error) or is_cancellation(exc)):
            self.escaped = exc  # the plan is told of jsonrest's errors itself

    def ended(self, outcome: object, elapsed: float) -> None:
        """End the span with the outcome's status or error; measure it."""
        if isinstance(outcome, str) and self.escaped is not None:
            outcome = self.escaped
        call = self.call
        recorder = call.recorder
        span = self.span
        measured = dict(self.measured)
        if isinstance(outcome, Response):
            span.set_attribute(STATUS, outcome.status)
            measured[STATUS] = outcome.status
            call.last_status = outcome.status
        error = error_type(outcome)
        if error is not None:
            span.set_attribute(ERROR, error)
            measured[ERROR] = error
            if isinstance(outcome, BaseException):
                span.record_exception(outcome)
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()
        recorder.active.add(-1, self.measured)
        if not call.httpx_records:
            recorder.duration.record(elapsed, measured)


# A recorder per pair of providers: a provider's meter refuses (and logs) a
# second instrument of the same name.
_recorders: dict[tuple[int, int], tuple[object, object, Recorder]] = {}
_recorders_lock = threading.Lock()
_MAX_RECORDERS = 64


def recorder(tracer_provider: Any = None, meter_provider: Any = None) -> Recorder:
    """The `Recorder` of these providers (None: the global one), made once."""
    key = (id(tracer_provider), id(meter_provider))
    known = _recorders.get(key)
    if known is None:
        with _recorders_lock:
            known = _recorders.get(key)
            if known is None:
                if len(_recorders) >= _MAX_RECORDERS:
                    _recorders.clear()
                made = Recorder(tracer_provider, meter_provider)
                # The providers are kept too: their ids stay theirs.
                known = _recorders[key] = (tracer_provider, meter_provider, made)
    return known[2]


_global: tuple[object, object, Telemetry] | None = None
# Asking OpenTelemetry for its global providers costs about a microsecond (an
# environment lookup each). While none is set and the SDK was never imported,
# a process has no provider of the usual kind: look again only once a second,
# which still notices another implementation's soon. A provider named in the
# environment is loaded by the first look, so then look at every call.
_ENVIRONMENT = ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")
_NAMED = any(name in os.environ for name in _ENVIRONMENT)
_LOOK_EVERY = 1.0
_next_look = 0.0


def _configured(provider: object) -> bool:
    """Whether `provider` is an implementation's (the SDK's, say), not one of
    the API's own: a proxy for a provider not set yet, or a no-op."""
    module = type(provider).__module__
    return not module.startswith(("opentelemetry.trace", "opentelemetry.metrics"))


def global_telemetry() -> Telemetry:
    """A `Recorder` of the global providers once either is set; else `OFF`."""
    global _global, _next_look
    known = _global
    if (
        known is not None
        and known[2] is OFF
        and not _NAMED
        and "opentelemetry.sdk" not in sys.modules
    ):
        now = time.monotonic()
        if now < _next_look:
            return OFF
        _next_look = now + _LOOK_EVERY
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    if known is not None and known[0] is tracer_provider and known[1] is meter_provider:
        return known[2]
    telemetry: Telemetry = OFF
    if _configured(tracer_provider) or _configured(meter_provider):
        telemetry = recorder(tracer_provider, meter_provider)
    _global = (tracer_provider, meter_provider, telemetry)
    return telemetry


def inject(headers: Headers | None) -> Headers | None:
    """`headers` with the current span's context added by the global
    propagator (`traceparent`), unless they name it already; `headers`
    itself when no span is current."""
    if not trace.get_current_span().get_span_context().is_valid:
        return headers
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier or not headers:
        return carrier or headers
    if isinstance(headers, httpx.Headers):  # may repeat a name: keep it so
        merged = httpx.Headers(headers)
        for name, value in carrier.items():
            if name not in merged:
                merged[name] = value
        return merged
    given = {name.lower() for name in headers}
    added = {name: value for name, value in carrier.items() if name not in given}
    return {**headers, **added}
