"""Part 6: what discovery refreshes cost the calls around them.

A 1,000-host membership changes by 10% at every refresh (100 hosts leave,
100 join) while one caller sends unicasts as fast as it can, through
httpx's MockTransport (no network: what is measured is jsonrest and httpx,
not a server). The same calls with a source that never changes, in the same
run and interleaved rounds, are the baseline: the difference at p99 is what
refreshing costs a call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx

import jsonrest

from .harness import Table

HOSTS = 1000
CHANGE = 0.10


def _handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


async def _async_handler(request: httpx.Request) -> httpx.Response:
    # A real exchange waits on its socket, which lets other tasks (the
    # refresh among them) run; this one lets them run just as often.
    await anyio.sleep(0)
    return _handler(request)


def _source(churn: bool) -> tuple[Callable[[], list[str]], list[int]]:
    """A source whose every answer shifts a window of `HOSTS` hosts by 10% of
    them (or always the same window), and the count of answers given."""
    pool = [f"h{i}.example:80" for i in range(HOSTS * 3)]
    step = int(HOSTS * CHANGE)
    asked = [0]

    def source() -> list[str]:
        start = asked[0] * step if churn else 0
        asked[0] += 1
        return [pool[(start + i) % len(pool)] for i in range(HOSTS)]

    return source, asked


def _options(
    source: Callable[[], list[str]], refresh: float, handler: Any = _handler
) -> dict[str, Any]:
    return {
        "discover": source,
        "refresh": refresh,
        "min_refresh": refresh,
        "retries": 0,
        "transport": httpx.MockTransport(handler),
    }


def _percentiles(seconds: list[float]) -> tuple[float, float, float]:
    ordered = sorted(seconds)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3  # noqa: E731
    return statistics.median(ordered) * 1e3, at(0.99), ordered[-1] * 1e3


def _sync_round(churn: bool, calls: int, refresh: float) -> tuple[list[float], int]:
    source, asked = _source(churn)
    latencies = []
    with jsonrest.Resources(**_options(source, refresh)) as cluster:
        cluster.broadcast("GET", "/x")  # every first member's client made
        for _ in range(calls):
            start = time.perf_counter()
            cluster.unicast("GET", "/x")
            latencies.append(time.perf_counter() - start)
    return latencies, asked[0]


def _async_round(
    churn: bool, calls: int, refresh: float, backend: str
) -> tuple[list[float], int]:
    source, asked = _source(churn)
    latencies: list[float] = []

    async def main() -> None:
        options = _options(source, refresh, _async_handler)
        async with jsonrest.AsyncResources(**options) as cluster:
            await cluster.broadcast("GET", "/x")  # every first member's client made
            for _ in range(calls):
                start = time.perf_counter()
                await cluster.unicast("GET", "/x")
                latencies.append(time.perf_counter() - start)

    anyio.run(main, backend=backend)
    return latencies, asked[0]


def measure(calls: int, rounds: int, refresh: float) -> tuple[Table, dict[str, float]]:
    """p50/p99/max of a unicast with and without churn, per runtime."""
    table = Table(
        f"A unicast while discovery changes {CHANGE:.0%} of {HOSTS:,} hosts every "
        f"{refresh * 1000:.0f} ms (ms per call; {rounds} interleaved rounds of "
        f"{calls:,} calls each, pooled)",
        [
            "runtime",
            "refreshes",
            "p50 steady",
            "p50 churn",
            "p99 steady",
            "p99 churn",
            "p99 added",
            "max steady",
            "max churn",
        ],
    )
    runtimes: dict[str, Callable[[bool], tuple[list[float], int]]] = {
        "threads (Resources)": lambda churn: _sync_round(churn, calls, refresh),
        "asyncio": lambda churn: _async_round(churn, calls, refresh, "asyncio"),
        "trio": lambda churn: _async_round(churn, calls, refresh, "trio"),
    }
    added: dict[str, float] = {}
    for name, run in runtimes.items():
        steady: list[float] = []
        churn: list[float] = []
        refreshes = 0
        for _ in range(rounds):
            steady += run(False)[0]
            latencies, asked = run(True)
            churn += latencies
            refreshes += asked
        (p50s, p99s, maxs), (p50c, p99c, maxc) = (
            _percentiles(steady),
            _percentiles(churn),
        )
        added[name] = p99c - p99s
        table.rows.append(
            [name, refreshes, p50s, p50c, p99s, p99c, p99c - p99s, maxs, maxc]
        )
    table.notes.append(
        "Target: a refresh adds at most 1 ms to a call at p99. Calls go through "
        "httpx.MockTransport (no network). The first members' clients are made "
        "before timing; a host that joins makes its httpx client on its first "
        "call, which that call pays too."
    )
    return table, added
