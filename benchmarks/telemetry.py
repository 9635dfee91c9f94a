"""Part 1, telemetry: CPU per call with no network, OpenTelemetry off against on.

`table(n, count)` runs `python -m benchmarks.telemetry N COUNT` in a process of
its own, which prints its figures as JSON: importing OpenTelemetry there
leaves the figures of every other part as they would be without it. There,
three series of interleaved rounds, each against `telemetry=False` measured
in the same rounds:

1. before anything imports `opentelemetry`: the default, `telemetry=None`;
2. with its API imported (as a library may do) but no provider set: the
   default;
3. with its SDK imported too: the default, no provider set; and
   `telemetry=jsonrest.OpenTelemetry(...)` with the SDK's providers (spans
   recorded, then dropped: no exporter; metrics aggregated in memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

import jsonrest

from .harness import Summary, Table
from .overhead import PATH, _mock_handler

HOSTS = ["h1.test:80", "h2.test:80", "h3.test:80", "h4.test:80"]
OFF = "telemetry=False"
NOT_IMPORTED = "default, opentelemetry never imported"
API_ONLY = "default, opentelemetry's API imported, no provider set"
SDK_UNSET = "default, its SDK imported too, no provider set"
ON = "OpenTelemetry(SDK providers): spans and metrics recorded"


def _order(names: list[str], i: int) -> list[str]:
    """Round `i`'s order: rotated, and reversed every other round."""
    order = names[i % len(names) :] + names[: i % len(names)]
    return order[::-1] if i % 2 else order


def _rounds(
    calls: dict[str, Callable[[], Any]], n: int, count: int
) -> dict[str, Summary]:
    """CPU µs per call (process time: what other processes do is not
    counted) of each of `calls`, in `count` interleaved rounds of `n`."""
    names = list(calls)
    values: dict[str, list[float]] = {name: [] for name in names}
    for i in range(-1, count):  # round -1 warms up
        for name in _order(names, i):
            call = calls[name]
            start = time.process_time()
            for _ in range(n):
                call()
            if i >= 0:
                values[name].append((time.process_time() - start) / n * 1e6)
    return {name: Summary(v) for name, v in values.items()}


async def _async_rounds(
    calls: dict[str, Callable[[], Awaitable[Any]]], n: int, count: int
) -> dict[str, Summary]:
    """`_rounds` for coroutine functions."""
    names = list(calls)
    values: dict[str, list[float]] = {name: [] for name in names}
    for i in range(-1, count):
        for name in _order(names, i):
            call = calls[name]
            start = time.process_time()
            for _ in range(n):
                await call()
            if i >= 0:
                values[name].append((time.process_time() - start) / n * 1e6)
    return {name: Summary(v) for name, v in values.items()}


def _sdk() -> jsonrest.OpenTelemetry:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    meter_provider = MeterProvider(
        metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False
    )
    return jsonrest.OpenTelemetry(
        tracer_provider=TracerProvider(), meter_provider=meter_provider
    )


def _sync(settings: dict[str, Any], n: int, count: int) -> dict[str, Summary]:
    mock = httpx.MockTransport(_mock_handler)
    clusters = {
        name: jsonrest.Resources(HOSTS, transport=mock, telemetry=telemetry)
        for name, telemetry in settings.items()
    }

    def call(cluster: jsonrest.Resources) -> Callable[[], Any]:
        return lambda: cluster.unicast("GET", PATH)()

    try:
        return _rounds(
            {name: call(cluster) for name, cluster in clusters.items()}, n, count
        )
    finally:
        for cluster in clusters.values():
            cluster.close()


def _async(
    settings: dict[str, Any], n: int, count: int, backend: str
) -> dict[str, Summary]:
    mock = httpx.MockTransport(_mock_handler)

    async def main() -> dict[str, Summary]:
        clusters = {
            name: jsonrest.AsyncResources(HOSTS, transport=mock, telemetry=telemetry)
            for name, telemetry in settings.items()
        }

        def call(cluster: jsonrest.AsyncResources) -> Callable[[], Any]:
            async def unicast() -> Any:
                return (await cluster.unicast("GET", PATH))()

            return unicast

        try:
            return await _async_rounds(
                {name: call(cluster) for name, cluster in clusters.items()}, n, count
            )
        finally:
            for cluster in clusters.values():
                await cluster.aclose()

    return anyio.run(main, backend=backend)


def measure(n: int, count: int) -> list[dict[str, dict[str, list[float]]]]:
    """µs per unicast of each setting, by runtime, in three series (each with
    its own `telemetry=False` rounds): before anything imports opentelemetry,
    with its API imported, with its SDK imported too."""
    series: list[dict[str, dict[str, list[float]]]] = []

    def run(settings: dict[str, Any]) -> None:
        runs = {
            "sync": _sync(settings, n, count),
            "asyncio": _async(settings, n, count, "asyncio"),
        }
        series.append(
            {
                runtime: {name: summary.values for name, summary in got.items()}
                for runtime, got in runs.items()
            }
        )

    run({OFF: False, NOT_IMPORTED: None})
    assert "opentelemetry" not in sys.modules
    import opentelemetry.trace  # noqa: F401  (what a library may do, unconfigured)

    run({OFF: False, API_ONLY: None})
    try:
        on = _sdk()
    except ImportError:  # no opentelemetry-sdk: no series with it
        return series
    run({OFF: False, SDK_UNSET: None, ON: on})
    return series


def table(n: int, count: int) -> tuple[Table, dict[str, Any]]:
    """The telemetry rows, measured in a process of their own."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.telemetry", str(n), str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    series: list[dict[str, dict[str, list[float]]]] = json.loads(done.stdout)
    result = Table(
        f"Telemetry: CPU per unicast over 4 hosts with no network, "
        f"httpx.MockTransport ({count} interleaved rounds of {n} calls)",
        ["runtime: telemetry", "CPU µs/call (median)", "spread", "telemetry's µs"],
    )
    data: dict[str, Any] = {}
    for runtime in ("sync", "asyncio"):
        for runs in series:
            rows = runs[runtime]
            base = Summary(rows[OFF]).median
            for name, values in rows.items():
                mine = Summary(values)
                if name == OFF:
                    continue
                cost = mine.median - base
                label = f"{runtime}: {name}"
                result.rows.append([label, mine.median, mine.spread, cost])
                data[label] = cost
            result.rows.append([f"{runtime}: {OFF}, same rounds", base, "", "–"])
    if len(series) < 3:
        result.notes.append("opentelemetry-sdk is not installed: no row with it on.")
    result.notes.append(
        "CPU time of the process, so other processes on the cores count little. "
        "Telemetry's µs: the median against `telemetry=False` measured in the "
        "same rounds, in a process of its own: first before anything imports "
        "opentelemetry, then with its API imported, then with its SDK too. "
        "With it on, spans are made and ended but not exported: an exporter's "
        "own cost comes on top."
    )
    return result, data


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2]))))
