"""What jsonrest reports of its calls, as an interface the plans call into.

The plans (`Call`, `Broadcast`, `Multicast`) report each decision to the
`CallRecord` of their call: an attempt begins (`attempt`) or ends
(`AttemptRecord.ended`), a failover, a host marked down or up, the deadline
passed; and, for the tail-tolerance policies, a hedge, a quorum, a retry
budget's refusal. The twins enter the call's record for the call's whole life
and an attempt's record while it is sent, so that a tracing context follows
them (an attempt's span is the current one while httpx sends it).

The classes here record nothing: each method is a no-op, and the records are
shared singletons, so a call without telemetry costs a few attribute lookups.
`jsonrest._otel` records into OpenTelemetry; it is imported only once
OpenTelemetry is in use: given to a cluster as `OpenTelemetry(...)`, or
configured globally (a tracer or meter provider set) by a process that has
imported `opentelemetry` itself. Without the `otel` extra, nothing imports it.

Nothing here or there records a body, a query string or a header.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from types import ModuleType, TracebackType
from typing import Any

import httpx

from ._exceptions import Error
from ._request import Headers
from ._response import Response

__all__ = [
    "CANCELLED",
    "DEADLINE",
    "NO_ATTEMPT",
    "NO_CALL",
    "OFF",
    "AttemptRecord",
    "CallRecord",
    "OpenTelemetry",
    "Telemetry",
    "current",
    "error_type",
    "is_cancellation",
    "telemetry_setting",
    "trace_headers",
]

#: What an attempt or call ended with when it was cancelled from outside.
CANCELLED = "cancelled"
#: ... and when the call's deadline cut it short.
DEADLINE = "deadline_exceeded"


class AttemptRecord:
    """The record of one attempt: entered while it is sent, `ended` once.

    This one records nothing (`NO_ATTEMPT`).
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def ended(self, outcome: object, elapsed: float) -> None:
        """The attempt ended with `outcome`: a `Response`, a jsonrest `Error`,
        or `CANCELLED` / `DEADLINE`; `elapsed` seconds after it began."""


class CallRecord:
    """The record of one call (a unicast, broadcast or multicast).

    Entered for the call's whole life: leaving it with an exception (a
    cancellation included) ends the call as failed. This one records nothing
    (`NO_CALL`).
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def attempt(self, attempt: Any) -> AttemptRecord:
        """An attempt begins (an `Attempt`: its `host` and `resource`)."""
        return NO_ATTEMPT

    def failover(self, failed: str, to: Sequence[str], reason: str | None) -> None:
        """The call leaves host `failed` for `to`; `reason` is the failed
        attempt's `error_type`."""

    def expired(self) -> None:
        """The call's deadline passed."""

    def host_down(self, host: str, seconds: float) -> None:
        """An attempt of this call marked `host` down for `seconds`."""

    def host_up(self, host: str) -> None:
        """An attempt of this call marked `host`, down before, up again."""

    def hedge(self, host: str) -> None:
        """A hedged attempt is sent to `host` while an earlier one still runs."""

    def quorum(self, reached: int, needed: int) -> None:
        """The call's quorum: `reached` answers of the `needed` ones."""

    def budget_refused(self, reason: str) -> None:
        """A retry or hedge was not sent: the retry budget refused it."""


class Telemetry:
    """Where a cluster's calls are reported: nowhere (`OFF`)."""

    __slots__ = ()

    def call(self, kind: str, method: str, target: str) -> CallRecord:
        """The record of a new call: `kind` is "unicast", "broadcast" or
        "multicast"; `target` the path, with a query that is never recorded."""
        return NO_CALL


NO_ATTEMPT = AttemptRecord()
NO_CALL = CallRecord()
OFF = Telemetry()

# jsonrest._otel, once OpenTelemetry is in use.
_otel: ModuleType | None = None


def _load() -> ModuleType:
    global _otel
    if _otel is None:
        try:
            from . import _otel as module
        except ImportError as exc:
            raise ImportError(
                "jsonrest's OpenTelemetry support needs the opentelemetry-api "
                'package: pip install "jsonrest[otel]"'
            ) from exc
        _otel = module
    return _otel


def current() -> Telemetry:
    """The global telemetry: OpenTelemetry when a provider is configured.

    A process that never imported `opentelemetry` cannot have configured it:
    that test, a dictionary lookup, is all a call costs then.
    """
    if _otel is None and "opentelemetry.trace" not in sys.modules:
        return OFF
    telemetry: Telemetry = _load().global_telemetry()
    return telemetry


class OpenTelemetry(Telemetry):
    """OpenTelemetry spans and metrics for a cluster's calls, through the given
    providers (`None`: the global one, as `opentelemetry.trace` and
    `opentelemetry.metrics` resolve it; recording starts once it is set).

    Pass it as `telemetry=` to `Resources`, `AsyncResources`, `Shards` or
    `AsyncShards`. Needs the `otel` extra (`opentelemetry-api`); raises
    `ImportError` without it.
    """

    __slots__ = ("_recorder", "meter_provider", "tracer_provider")

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._recorder: Telemetry = _load().recorder(tracer_provider, meter_provider)

    def __repr__(self) -> str:
        return (
            f"OpenTelemetry(tracer_provider={self.tracer_provider!r}, "
            f"meter_provider={self.meter_provider!r})"
        )

    def call(self, kind: str, method: str, target: str) -> CallRecord:
        """The record of a new call, reported to this instance's providers."""
        return self._recorder.call(kind, method, target)


def telemetry_setting(value: object) -> Telemetry | None:
    """Check a cluster's `telemetry=`: None for the global telemetry (None or
    True), `OFF` for False, else the given `OpenTelemetry`."""
    if value is None or value is True:
        return None
    if value is False:
        return OFF
    if isinstance(value, Telemetry):
        return value
    raise TypeError(
        "telemetry must be None (OpenTelemetry's global providers, when "
        "configured), False (none) or jsonrest.OpenTelemetry(...), not "
        f"{type(value).__name__}"
    )


def trace_headers(headers: Headers | None) -> Headers | None:
    """`headers` with the current trace context added (`traceparent`), when
    OpenTelemetry is in use and a span is current; else `headers` itself."""
    if _otel is None and ("opentelemetry.trace" not in sys.modules or current() is OFF):
        return headers
    assert _otel is not None
    with_context: Headers | None = _otel.inject(headers)
    return with_context


def is_cancellation(exc: BaseException) -> bool:
    """Whether `exc` cancels the task it runs in (asyncio's or trio's)."""
    if isinstance(exc, asyncio.CancelledError):
        return True
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(exc, trio.Cancelled)


def error_type(outcome: object) -> str | None:
    """The OpenTelemetry `error.type` of an outcome, or None for a success.

    A status of 400 or more is its code ("503"); a jsonrest error caused by an
    httpx one is named after the httpx class ("ConnectError", "ReadTimeout"),
    as httpx's own instrumentation names it; any other exception after its
    class ("NoHostAvailable"); a cancellation is "cancelled"; a string (one
    of `CANCELLED`, `DEADLINE`) is itself.
    """
    if isinstance(outcome, Response):
        return str(outcome.status) if outcome.status >= 400 else None
    if isinstance(outcome, str):
        return outcome
    if isinstance(outcome, BaseException):
        if is_cancellation(outcome):
            return CANCELLED
        cause = outcome.__cause__
        if isinstance(outcome, Error) and isinstance(cause, httpx.HTTPError):
            return type(cause).__qualname__
        return type(outcome).__qualname__
    return None
