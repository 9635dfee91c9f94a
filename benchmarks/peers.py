"""Part 2: elastic-transport, the peer that does the same job, with 4 nodes."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import elastic_transport as et

import jsonrest

from .harness import Summary, Table

PATH = "/item.json"


def _configs(hosts: list[str]) -> list[et.NodeConfig]:
    return [et.NodeConfig("http", h.split(":")[0], int(h.split(":")[1])) for h in hosts]


def _sync_pairs(hosts: list[str]) -> dict[str, Callable[[], Any]]:
    def ours() -> Any:
        cluster = jsonrest.Resources(hosts)
        return (lambda: cluster.unicast("GET", PATH)()), cluster.close

    def theirs(node: str) -> Callable[[], Any]:
        def make() -> Any:
            transport = et.Transport(_configs(hosts), node_class=node)
            return (
                lambda: transport.perform_request("GET", PATH).body
            ), transport.close

        return make

    return {
        "jsonrest.Resources (httpx)": ours,
        "elastic-transport, httpx node": theirs("httpx"),
        "elastic-transport, urllib3 node": theirs("urllib3"),
        "elastic-transport, requests node": theirs("requests"),
    }


def _async_pairs(hosts: list[str]) -> dict[str, Callable[[], Any]]:
    def ours() -> Any:
        cluster = jsonrest.AsyncResources(hosts)

        async def call() -> Any:
            return (await cluster.unicast("GET", PATH))()

        return call, cluster.aclose

    def tuned() -> Any:
        cluster = jsonrest.AsyncResources(hosts, max_in_flight=2)

        async def call() -> Any:
            return (await cluster.unicast("GET", PATH))()

        return call, cluster.aclose

    def theirs(node: str) -> Callable[[], Any]:
        def make() -> Any:
            transport = et.AsyncTransport(_configs(hosts), node_class=node)

            async def call() -> Any:
                return (await transport.perform_request("GET", PATH)).body

            return call, transport.close

        return make

    return {
        "jsonrest.AsyncResources (httpx)": ours,
        "jsonrest.AsyncResources (httpx), max_in_flight=2": tuned,
        "elastic-transport, httpx async node": theirs("httpxasync"),
        "elastic-transport, aiohttp node": theirs("aiohttp"),
    }


def _sync_latencies(call: Callable[[], Any], n: int) -> tuple[list[float], int]:
    latencies, errors = [], 0
    for _ in range(n):
        start = time.perf_counter()
        try:
            call()
        except Exception:
            errors += 1
        latencies.append(time.perf_counter() - start)
    return latencies, errors


async def _async_latencies(
    call: Callable[[], Awaitable[Any]], n: int, tasks: int
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    left = n

    async def worker() -> None:
        nonlocal left, errors
        while left > 0:
            left -= 1
            start = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(worker)
    return latencies, errors, n / (time.perf_counter() - start)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def compare(hosts: list[str], dead: str, n: int, count: int, tasks: int) -> list[Table]:
    """Throughput against the peer, then p50/p99 and errors with a dead host."""
    sync_rate = Table(
        f"Sync throughput, 4 healthy hosts, sequential ({n} requests, {count} rounds)",
        ["client", "req/s (median)", "spread", "jsonrest vs this"],
    )
    dead_table = Table(
        f"With 1 of 4 hosts down (a closed port): {n} requests each",
        [
            "client",
            "healthy p50 ms",
            "healthy p99 ms",
            "down p50 ms",
            "down p99 ms",
            "p99 down/healthy",
            "errors",
        ],
    )
    rates: dict[str, Summary] = {}
    for name, make in _sync_pairs(hosts).items():
        call, close = make()
        _sync_latencies(call, n // 5)
        values, healthy = [], []
        for _ in range(count):
            lat, _ = _sync_latencies(call, n)
            values.append(n / sum(lat))
            healthy += lat
        close()
        rates[name] = Summary(values)
        call, close = _sync_pairs([*hosts[:3], dead])[name]()
        lat, errors = _sync_latencies(call, n)
        close()
        dead_table.rows.append(
            [
                f"sync: {name}",
                _pct(healthy, 0.5),
                _pct(healthy, 0.99),
                _pct(lat, 0.5),
                _pct(lat, 0.99),
                _pct(lat, 0.99) / _pct(healthy, 0.99),
                errors,
            ]
        )
    ours = rates["jsonrest.Resources (httpx)"].median
    for name, summary in rates.items():
        sync_rate.rows.append(
            [name, summary.median, summary.spread, ours / summary.median]
        )

    async_rate = Table(
        f"Async throughput (asyncio), 4 healthy hosts, {tasks} tasks ({n} requests, {count} rounds)",
        ["client", "req/s (median)", "spread", "jsonrest vs this"],
    )
    arates: dict[str, Summary] = {}

    async def run_async() -> None:
        for name, make in _async_pairs(hosts).items():
            call, close = make()
            await _async_latencies(call, n // 5, tasks)
            values, healthy = [], []
            for _ in range(count):
                lat, _, rate = await _async_latencies(call, n, tasks)
                values.append(rate)
                healthy += lat
            await close()
            arates[name] = Summary(values)
            call, close = _async_pairs([*hosts[:3], dead])[name]()
            lat, errors, _ = await _async_latencies(call, n, tasks)
            await close()
            dead_table.rows.append(
                [
                    f"async: {name}",
                    _pct(healthy, 0.5),
                    _pct(healthy, 0.99),
                    _pct(lat, 0.5),
                    _pct(lat, 0.99),
                    _pct(lat, 0.99) / _pct(healthy, 0.99),
                    errors,
                ]
            )

    anyio.run(run_async, backend="asyncio")
    ours = arates["jsonrest.AsyncResources (httpx)"].median
    for name, summary in arates.items():
        async_rate.rows.append(
            [name, summary.median, summary.spread, ours / summary.median]
        )
    dead_table.notes.append(
        "Latency in ms per request; async latencies include waiting behind "
        f"{tasks} concurrent tasks. 'errors' are calls that raised."
    )
    return [sync_rate, async_rate, dead_table]


def mean(values: list[float]) -> float:
    return statistics.fmean(values)
