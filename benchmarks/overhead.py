"""Part 1: per-request cost, keep-alive GET + JSON decode, against nginx."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

import jsonrest

from .harness import Summary, Table, rounds

PATH = "/item.json"


def _sync_clients(hosts: list[str]) -> dict[str, tuple[Callable[[], Any], Any]]:
    import requests

    url = f"http://{hosts[0]}{PATH}"
    raw = httpx.Client()
    session = requests.Session()
    resource = jsonrest.Resource(hosts[0])
    cluster = jsonrest.Resources(hosts)
    return {
        "httpx.Client (baseline)": (lambda: raw.get(url).json(), raw),
        "jsonrest.Resource.get": (lambda: resource.get(PATH), resource),
        "jsonrest.Resources.unicast()() over 4 hosts": (
            lambda: cluster.unicast("GET", PATH)(),
            cluster,
        ),
        "requests.Session": (lambda: session.get(url).json(), session),
    }


def sync_overhead(hosts: list[str], n: int, count: int) -> Table:
    """Sequential µs per request for each blocking client."""
    table = Table(
        f"Sync, sequential, 1 connection per host ({n} requests per round, {count} rounds)",
        ["client", "µs/request (median)", "spread", "vs httpx"],
    )
    clients = _sync_clients(hosts)
    results: dict[str, Summary] = {}
    for name, (call, _) in clients.items():

        def run(call: Callable[[], Any] = call) -> float:
            start = time.perf_counter()
            for _ in range(n):
                call()
            return (time.perf_counter() - start) / n * 1e6

        results[name] = rounds(run, count)
    base = results["httpx.Client (baseline)"].median
    for name, summary in results.items():
        table.rows.append([name, summary.median, summary.spread, summary.median / base])
    for _, closer in clients.values():
        closer.close()
    return table


async def _throughput(call: Callable[[], Awaitable[Any]], n: int, tasks: int) -> float:
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(worker)
    return n / (time.perf_counter() - start)


def _async_factories(hosts: list[str], backend: str) -> dict[str, Callable[[], Any]]:
    url = f"http://{hosts[0]}{PATH}"

    def raw() -> Any:
        client = httpx.AsyncClient()
        return (lambda: _json(client.get(url))), client.aclose

    def resource() -> Any:
        r = jsonrest.AsyncResource(hosts[0])
        return (lambda: r.get(PATH)), r.aclose

    def cluster(**options: Any) -> Callable[[], Any]:
        def make() -> Any:
            c = jsonrest.AsyncResources(hosts, **options)

            async def call() -> Any:
                return (await c.unicast("GET", PATH))()

            return call, c.aclose

        return make

    factories: dict[str, Callable[[], Any]] = {
        "httpx.AsyncClient (baseline)": raw,
        "jsonrest.AsyncResource": resource,
        "jsonrest.AsyncResources, 4 hosts": cluster(),
        "jsonrest.AsyncResources, 4 hosts, max_in_flight=2": cluster(max_in_flight=2),
    }
    if backend == "asyncio":
        from httpx_aiohttp import AiohttpTransport

        def fast() -> Any:
            c = jsonrest.AsyncResources(hosts, transport=AiohttpTransport())

            async def call() -> Any:
                return (await c.unicast("GET", PATH))()

            return call, c.aclose

        def aio() -> Any:
            import aiohttp

            session = aiohttp.ClientSession()

            async def call() -> Any:
                async with session.get(url) as response:
                    return await response.json()

            return call, session.close

        factories["jsonrest.AsyncResources, 4 hosts, httpx-aiohttp transport"] = fast
        factories["aiohttp.ClientSession"] = aio
    return factories


async def _json(pending: Awaitable[httpx.Response]) -> Any:
    return (await pending).json()


def async_throughput(
    hosts: list[str], n: int, count: int, tasks: int, backend: str
) -> Table:
    """Requests per second with `tasks` concurrent tasks, for each async client."""
    table = Table(
        f"Async ({backend}), {tasks} concurrent tasks ({n} requests per round, {count} rounds)",
        ["client", "req/s (median)", "spread", "vs httpx"],
    )
    results: dict[str, Summary] = {}

    async def measure(factory: Callable[[], Any]) -> Summary:
        call, close = factory()
        await _throughput(call, max(n // 5, 50), tasks)  # warm-up: connections, caches
        values = [await _throughput(call, n, tasks) for _ in range(count)]
        await close()
        return Summary(values)

    async def main() -> None:
        for name, factory in _async_factories(hosts, backend).items():
            results[name] = await measure(factory)

    anyio.run(main, backend=backend)
    base = results["httpx.AsyncClient (baseline)"].median
    for name, summary in results.items():
        table.rows.append([name, summary.median, summary.spread, summary.median / base])
    return table


def concurrency_one(hosts: list[str], n: int, count: int) -> Table:
    """µs per request at concurrency 1: jsonrest's own cost against raw httpx."""
    table = Table(
        f"Overhead at concurrency 1, one host ({n} requests per round, {count} rounds)",
        ["pair", "jsonrest µs", "httpx µs", "overhead"],
    )
    url = f"http://{hosts[0]}{PATH}"

    def pair_sync() -> tuple[Summary, Summary]:
        raw, res = httpx.Client(), jsonrest.Resource(hosts[0])
        a: list[float] = []
        b: list[float] = []
        for _ in range(count + 1):  # interleaved rounds, the first a warm-up
            start = time.perf_counter()
            for _ in range(n):
                res.get(PATH)
            a.append((time.perf_counter() - start) / n * 1e6)
            start = time.perf_counter()
            for _ in range(n):
                raw.get(url).json()
            b.append((time.perf_counter() - start) / n * 1e6)
        raw.close()
        res.close()
        return Summary(a[1:]), Summary(b[1:])

    async def pair_async() -> tuple[Summary, Summary]:
        raw, res = httpx.AsyncClient(), jsonrest.AsyncResource(hosts[0])
        a: list[float] = []
        b: list[float] = []
        for _ in range(count + 1):
            start = time.perf_counter()
            for _ in range(n):
                await res.get(PATH)
            a.append((time.perf_counter() - start) / n * 1e6)
            start = time.perf_counter()
            for _ in range(n):
                (await raw.get(url)).json()
            b.append((time.perf_counter() - start) / n * 1e6)
        await raw.aclose()
        await res.aclose()
        return Summary(a[1:]), Summary(b[1:])

    rows = [("Resource vs httpx.Client", *pair_sync())]
    for backend in ("asyncio", "trio"):
        mine, theirs = anyio.run(pair_async, backend=backend)
        rows.append((f"AsyncResource vs httpx.AsyncClient ({backend})", mine, theirs))
    for name, mine, theirs in rows:
        table.rows.append(
            [
                name,
                mine.median,
                theirs.median,
                f"{(mine.median / theirs.median - 1) * 100:+.1f}%",
            ]
        )
    return table
