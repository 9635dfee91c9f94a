"""Part 2: elastic-transport, the peer that does the same job, with 4 nodes."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import elastic_transport as et

import jsonrest

from .harness import Summary, Table

PATH = "/item.json"
OURS_SYNC = "jsonrest.Resources (httpx)"
OURS_ASYNC = "jsonrest.AsyncResources (httpx)"
ET_HTTPX = "elastic-transport, httpx node"
ET_HTTPX_ASYNC = "elastic-transport, httpx async node"
OURS_FAST = "jsonrest.AsyncResources (httpx-aiohttp)"
ET_AIOHTTP = "elastic-transport, aiohttp node"


def _configs(hosts: list[str]) -> list[et.NodeConfig]:
    return [et.NodeConfig("http", h.split(":")[0], int(h.split(":")[1])) for h in hosts]


def _sync_clients(hosts: list[str]) -> dict[str, Callable[[], Any]]:
    def ours() -> Any:
        cluster = jsonrest.Resources(hosts)
        return (lambda: cluster.unicast("GET", PATH)()), cluster.close

    def theirs(node: str) -> Callable[[], Any]:
        def make() -> Any:
            transport = et.Transport(_configs(hosts), node_class=node)
            return (lambda: transport.perform_request("GET", PATH).body), (
                transport.close
            )

        return make

    return {
        OURS_SYNC: ours,
        ET_HTTPX: theirs("httpx"),
        "elastic-transport, urllib3 node": theirs("urllib3"),
        "elastic-transport, requests node": theirs("requests"),
    }


def _async_clients(hosts: list[str], cap: int) -> dict[str, Callable[[], Any]]:
    def ours(**options: Any) -> Callable[[], Any]:
        def make() -> Any:
            made = dict(options)
            if made.get("transport") == "aiohttp":
                from httpx_aiohttp import AiohttpTransport

                made["transport"] = AiohttpTransport()  # inside the event loop
            cluster = jsonrest.AsyncResources(hosts, **made)

            async def call() -> Any:
                return (await cluster.unicast("GET", PATH))()

            return call, cluster.aclose

        return make

    def theirs(node: str) -> Callable[[], Any]:
        def make() -> Any:
            transport = et.AsyncTransport(_configs(hosts), node_class=node)

            async def call() -> Any:
                return (await transport.perform_request("GET", PATH)).body

            return call, transport.close

        return make

    return {
        OURS_ASYNC: ours(),
        f"jsonrest.AsyncResources (httpx), max_in_flight={cap}": ours(
            max_in_flight=cap
        ),
        ET_HTTPX_ASYNC: theirs("httpxasync"),
        "jsonrest.AsyncResources (httpx-aiohttp)": ours(transport="aiohttp"),
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


def pct(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (seconds), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _rotations(names: list[str], count: int) -> list[list[str]]:
    return [names[i % len(names) :] + names[: i % len(names)] for i in range(count)]


def compare(
    hosts: list[str], dead: str, n: int, count: int, tasks: int, n_dead: int, cap: int
) -> tuple[list[Table], dict[str, Any]]:
    """Throughput against the peer, then p50/p99 and errors with a dead host."""
    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL)
    sync_rate = Table(
        f"Sync throughput, 4 healthy hosts, sequential ({count} rotated rounds of "
        f"{n} requests)",
        ["client", "req/s (median)", "spread", "jsonrest vs this", "client CPU µs/req"],
    )
    dead_table = Table(
        f"With 1 of 4 hosts down (a closed port): {n_dead} requests each, fresh clients",
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
    data: dict[str, Any] = {}
    healthy: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}  # this process's CPU µs per request
    made = {name: make() for name, make in _sync_clients(hosts).items()}
    try:
        for name, (call, _) in made.items():
            _sync_latencies(call, max(n // 5, 20))
            healthy[name], rates[name], cpus[name] = [], [], []
        for order in _rotations(list(made), count):
            for name in order:
                cpu = time.process_time()
                lat, _ = _sync_latencies(made[name][0], n)
                cpus[name].append((time.process_time() - cpu) / n * 1e6)
                rates[name].append(n / sum(lat))
                healthy[name] += lat
    finally:
        for _, close in made.values():
            close()
    ours = Summary(rates[OURS_SYNC]).median
    for name, values in rates.items():
        summary = Summary(values)
        sync_rate.rows.append(
            [
                name,
                summary.median,
                summary.spread,
                ours / summary.median,
                Summary(cpus[name]).median,
            ]
        )
        data[f"sync rate: {name}"] = summary.median
    for name, make in _sync_clients([*hosts[:3], dead]).items():
        call, close = make()
        try:
            lat, errors = _sync_latencies(call, n_dead)
        finally:
            close()
        row = _dead_row(f"sync: {name}", healthy[name], lat, errors)
        dead_table.rows.append(row)
        data[f"sync dead: {name}"] = row

    async_rate = Table(
        f"Async throughput (asyncio), 4 healthy hosts, {tasks} tasks ({count} "
        f"rotated rounds of {n} requests)",
        [
            "client",
            "req/s (median)",
            "spread",
            "jsonrest (same library) vs this",
            "client CPU µs/req",
        ],
    )
    arates: dict[str, list[float]] = {}
    acpus: dict[str, list[float]] = {}
    ahealthy: dict[str, list[float]] = {}

    async def run_async() -> None:
        made = {name: make() for name, make in _async_clients(hosts, cap).items()}
        try:
            for name, (call, _) in made.items():
                await _async_latencies(call, max(n // 5, 50), tasks)
                arates[name], ahealthy[name], acpus[name] = [], [], []
            for order in _rotations(list(made), count):
                for name in order:
                    cpu = time.process_time()
                    lat, _, rate = await _async_latencies(made[name][0], n, tasks)
                    acpus[name].append((time.process_time() - cpu) / n * 1e6)
                    arates[name].append(rate)
                    ahealthy[name] += lat
        finally:
            for _, close in made.values():
                await close()
        for name, make in _async_clients([*hosts[:3], dead], cap).items():
            call, close = make()
            try:
                lat, errors, _ = await _async_latencies(call, n_dead, tasks)
            finally:
                await close()
            row = _dead_row(f"async: {name}", ahealthy[name], lat, errors)
            dead_table.rows.append(row)
            data[f"async dead: {name}"] = row

    anyio.run(run_async, backend="asyncio")
    for name, values in arates.items():
        summary = Summary(values)
        # Compare like with like: our httpx clients with their httpx node, our
        # httpx-aiohttp client with their aiohttp node.
        mine = OURS_ASYNC if "aiohttp" not in name else None
        mine = mine or "jsonrest.AsyncResources (httpx-aiohttp)"
        ratio = Summary(arates[mine]).median / summary.median
        async_rate.rows.append(
            [name, summary.median, summary.spread, ratio, Summary(acpus[name]).median]
        )
        data[f"async rate: {name}"] = summary.median
    for table in (sync_rate, async_rate):
        table.notes.append(
            "client CPU µs/req: this process's CPU time per request (median over "
            "rounds), without the server's; it moves less than req/s when other "
            "work competes for the cores."
        )
    async_rate.notes.append(
        "The ratio column compares jsonrest on the same HTTP library: "
        "AsyncResources (httpx) with httpx nodes, AsyncResources (httpx-aiohttp) "
        "with the aiohttp node."
    )
    dead_table.notes.append(
        "Latency in ms per request; async latencies include waiting behind "
        f"{tasks} concurrent tasks. 'errors' are calls that raised. The dead "
        "host refuses connections: each client must notice, fail over and "
        "avoid it."
    )
    return [sync_rate, async_rate, dead_table], data


def _dead_row(
    label: str, healthy: list[float], lat: list[float], errors: int
) -> list[Any]:
    return [
        label,
        pct(healthy, 0.5),
        pct(healthy, 0.99),
        pct(lat, 0.5),
        pct(lat, 0.99),
        pct(lat, 0.99) / pct(healthy, 0.99),
        errors,
    ]
