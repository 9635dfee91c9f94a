"""Part 1: per-request cost, keep-alive GET + JSON decode, against nginx."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

import jsonrest

from .harness import Summary, Table, interleaved, ratio_summary

PATH = "/item.json"
Factory = Callable[
    [], tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]
]


# Concurrency 1: jsonrest's own cost ----------------------------------------


async def _async_interleaved(
    calls: dict[str, Callable[[], Awaitable[Any]]], n: int, count: int
) -> dict[str, Summary]:
    """The async twin of `harness.interleaved`: µs per call in rotated rounds."""

    async def timed(call: Callable[[], Awaitable[Any]], n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await call()
        return (time.perf_counter() - start) / n * 1e6

    names = list(calls)
    for name in names:
        await timed(calls[name], max(n // 4, 10))
    values: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        order = names[i % len(names) :] + names[: i % len(names)]
        if i % 2:
            order.reverse()
        for name in order:
            values[name].append(await timed(calls[name], n))
    return {name: Summary(v) for name, v in values.items()}


def _pair_rows(
    table: Table, data: dict[str, Any], label: str, mine: Summary, theirs: Summary
) -> None:
    ratio = ratio_summary(mine, theirs)
    overhead = (ratio.median - 1) * 100
    table.rows.append(
        [
            label,
            mine.median,
            theirs.median,
            f"{overhead:+.1f}%",
            f"{(min(ratio.values) - 1) * 100:+.1f}% … {(max(ratio.values) - 1) * 100:+.1f}%",
        ]
    )
    data[label] = overhead


def concurrency_one(
    hosts: list[str], n: int, count: int
) -> tuple[Table, dict[str, Any]]:
    """µs per request at concurrency 1 on one host: jsonrest against raw httpx."""
    table = Table(
        f"Overhead at concurrency 1, one host ({count} interleaved rounds of {n} "
        "requests; overhead is the median of the per-round ratios)",
        ["pair", "jsonrest µs", "httpx µs", "overhead", "spread of overhead"],
    )
    data: dict[str, Any] = {}
    url = f"http://{hosts[0]}{PATH}"
    with httpx.Client() as raw, jsonrest.Resource(hosts[0]) as resource:
        got = interleaved(
            {"mine": lambda: resource.get(PATH), "raw": lambda: raw.get(url).json()},
            n,
            count,
        )
    _pair_rows(table, data, "Resource.get vs httpx.Client", got["mine"], got["raw"])

    async def pair_async() -> dict[str, Summary]:
        async with httpx.AsyncClient() as raw, jsonrest.AsyncResource(hosts[0]) as res:

            async def theirs() -> Any:
                return (await raw.get(url)).json()

            return await _async_interleaved(
                {"mine": lambda: res.get(PATH), "raw": theirs}, n, count
            )

    for backend in ("asyncio", "trio"):
        got = anyio.run(pair_async, backend=backend)
        _pair_rows(
            table,
            data,
            f"AsyncResource.get vs httpx.AsyncClient ({backend})",
            got["mine"],
            got["raw"],
        )
    table.notes.append(
        "Target: at most +5%. Each round runs both clients back to back, in "
        "alternating order, so a slow patch of the machine falls on both."
    )
    return table, data


MOCK_HOSTS = ["h1.test:80", "h2.test:80", "h3.test:80", "h4.test:80"]


def _mock_handler(request: httpx.Request) -> httpx.Response:
    from .servers import BODY

    return httpx.Response(
        200, content=BODY, headers={"content-type": "application/json"}
    )


def cpu_cost(n: int, count: int) -> tuple[Table, dict[str, Any]]:
    """µs of CPU per request with no network at all (httpx.MockTransport)."""
    table = Table(
        f"CPU per request with no network: httpx.MockTransport ({count} "
        f"interleaved rounds of {n} requests)",
        ["client", "µs/request (median)", "spread", "jsonrest's own µs"],
    )
    data: dict[str, Any] = {}
    hosts = MOCK_HOSTS
    url = f"http://{hosts[0]}{PATH}"
    mock = httpx.MockTransport(_mock_handler)
    raw = httpx.Client(transport=mock)
    resource = jsonrest.Resource(hosts[0], transport=mock)
    cluster = jsonrest.Resources(hosts, transport=mock)
    got = interleaved(
        {
            "httpx.Client get().json()": lambda: raw.get(url).json(),
            "jsonrest.Resource.get": lambda: resource.get(PATH),
            "jsonrest.Resources.unicast()() over 4 hosts": lambda: cluster.unicast(
                "GET", PATH
            )(),
        },
        n,
        count,
    )
    for closer in (raw, resource, cluster):
        closer.close()
    base = got["httpx.Client get().json()"].median
    for name, summary in got.items():
        own = summary.median - base
        table.rows.append(
            [f"sync: {name}", summary.median, summary.spread, "–" if own == 0 else own]
        )
        data[f"sync: {name}"] = own
        data[f"sync µs: {name}"] = summary.median

    async def run_async() -> dict[str, Summary]:
        raw = httpx.AsyncClient(transport=mock)
        resource = jsonrest.AsyncResource(hosts[0], transport=mock)
        cluster = jsonrest.AsyncResources(hosts, transport=mock)

        async def theirs() -> Any:
            return (await raw.get(url)).json()

        async def unicast() -> Any:
            return (await cluster.unicast("GET", PATH))()

        try:
            return await _async_interleaved(
                {
                    "httpx.AsyncClient get().json()": theirs,
                    "jsonrest.AsyncResource.get": lambda: resource.get(PATH),
                    "jsonrest.AsyncResources.unicast()() over 4 hosts": unicast,
                },
                n,
                count,
            )
        finally:
            await raw.aclose()
            await resource.aclose()
            await cluster.aclose()

    for backend in ("asyncio", "trio"):
        got = anyio.run(run_async, backend=backend)
        base = got["httpx.AsyncClient get().json()"].median
        for name, summary in got.items():
            own = summary.median - base
            label = f"{backend}: {name}"
            table.rows.append(
                [label, summary.median, summary.spread, "–" if own == 0 else own]
            )
            data[label] = own
    table.notes.append(
        "What jsonrest adds on top of httpx, in µs of CPU, with no network to hide "
        "it; compare with a real round trip in the table above (hundreds of µs)."
    )
    return table, data


# Sync, sequential --------------------------------------------------------


def sync_overhead(hosts: list[str], n: int, count: int) -> tuple[Table, dict[str, Any]]:
    """Sequential µs per request for each blocking client."""
    import requests

    table = Table(
        f"Sync, sequential, keep-alive ({count} interleaved rounds of {n} requests)",
        ["client", "µs/request (median)", "spread", "vs httpx"],
    )
    url = f"http://{hosts[0]}{PATH}"
    raw = httpx.Client()
    session = requests.Session()
    resource = jsonrest.Resource(hosts[0])
    cluster = jsonrest.Resources(hosts)
    try:
        results = interleaved(
            {
                "httpx.Client (baseline)": lambda: raw.get(url).json(),
                "jsonrest.Resource.get": lambda: resource.get(PATH),
                f"jsonrest.Resources.unicast()() over {len(hosts)} hosts": lambda: (
                    cluster.unicast("GET", PATH)()
                ),
                "requests.Session": lambda: session.get(url, timeout=5).json(),
            },
            n,
            count,
        )
    finally:
        for closer in (raw, session, resource, cluster):
            closer.close()
    base = results["httpx.Client (baseline)"].median
    data = {}
    for name, summary in results.items():
        table.rows.append([name, summary.median, summary.spread, summary.median / base])
        data[name] = summary.median
    return table, data


# Async, 50 tasks ---------------------------------------------------------


async def throughput(call: Callable[[], Awaitable[Any]], n: int, tasks: int) -> float:
    """Requests per second of `n` calls made by `tasks` concurrent tasks."""
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


def _made(options: dict[str, Any]) -> dict[str, Any]:
    """`options` with a callable `transport` called: made inside the event loop."""
    transport = options.get("transport")
    if callable(transport):
        return {**options, "transport": transport()}
    return options


def raw_httpx(host: str, **options: Any) -> Factory:
    """One httpx.AsyncClient on one host."""

    def make() -> Any:
        client = httpx.AsyncClient(**_made(options))
        url = f"http://{host}{PATH}"

        async def call() -> Any:
            return (await client.get(url)).json()

        return call, client.aclose

    return make


def cluster(hosts: list[str], cls: Any = None, **options: Any) -> Factory:
    """An AsyncResources (or subclass) over `hosts`, unicast GET + decode."""

    def make() -> Any:
        c = (cls or jsonrest.AsyncResources)(hosts, **_made(options))

        async def call() -> Any:
            return (await c.unicast("GET", PATH))()

        return call, c.aclose

    return make


def _single(host: str, **options: Any) -> Factory:
    def make() -> Any:
        r = jsonrest.AsyncResource(host, **_made(options))
        return (lambda: r.get(PATH)), r.aclose

    return make


def _aiohttp(host: str) -> Factory:
    def make() -> Any:
        import aiohttp

        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        url = f"http://{host}{PATH}"

        async def call() -> Any:
            async with session.get(url) as response:
                return await response.json()

        return call, session.close

    return make


def _fast() -> Any:
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport()


CAPS = (1, 2, 4, 8)
BASELINE = "httpx.AsyncClient, 1 host (baseline)"


def async_factories(hosts: list[str], backend: str) -> dict[str, Factory]:
    """The async clients of part 1, by row label."""
    h = len(hosts)
    factories: dict[str, Factory] = {
        BASELINE: raw_httpx(hosts[0]),
        "jsonrest.AsyncResource, 1 host": _single(hosts[0]),
        f"jsonrest.AsyncResources, {h} hosts": cluster(hosts),
    }
    for cap in CAPS:
        factories[f"jsonrest.AsyncResources, {h} hosts, max_in_flight={cap}"] = cluster(
            hosts, max_in_flight=cap
        )
    if backend == "asyncio":
        factories["httpx.AsyncClient + httpx-aiohttp, 1 host"] = raw_httpx(
            hosts[0], transport=_fast
        )
        factories[f"jsonrest.AsyncResources, {h} hosts, httpx-aiohttp"] = cluster(
            hosts, transport=_fast
        )
        factories["aiohttp.ClientSession, 1 host"] = _aiohttp(hosts[0])
    return factories


#: This process's CPU µs per request in each round of `measure_async`, by
#: (backend, client): steadier than req/s when other work shares the cores.
CPU_US: dict[tuple[str, str], list[float]] = {}


def measure_async(
    factories: dict[str, Factory], backend: str, n: int, count: int, tasks: int
) -> dict[str, Summary]:
    """Requests per second of each client, in rounds that rotate their order."""

    async def main() -> dict[str, Summary]:
        made = {name: factory() for name, factory in factories.items()}
        names = list(made)
        values: dict[str, list[float]] = {name: [] for name in names}
        try:
            for name in names:  # warm-up: connections, caches
                await throughput(made[name][0], max(n // 5, 50), tasks)
            for i in range(count):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    cpu = time.process_time()
                    values[name].append(await throughput(made[name][0], n, tasks))
                    CPU_US.setdefault((backend, name), []).append(
                        (time.process_time() - cpu) / n * 1e6
                    )
        finally:
            for _, close in made.values():
                await close()
        return {name: Summary(v) for name, v in values.items()}

    return anyio.run(main, backend=backend)


def async_throughput(
    hosts: list[str], n: int, count: int, tasks: int, backend: str
) -> tuple[Table, dict[str, Any]]:
    """Requests per second with `tasks` concurrent tasks, for each async client."""
    table = Table(
        f"Async ({backend}), {tasks} concurrent tasks ({count} rotated rounds of "
        f"{n} requests)",
        [
            "client",
            "req/s (median)",
            "spread",
            "µs/request",
            "vs httpx",
            "client CPU µs/req",
        ],
    )
    results = measure_async(async_factories(hosts, backend), backend, n, count, tasks)
    base = results[BASELINE].median
    data: dict[str, Any] = {"baseline": base}
    for name, summary in results.items():
        table.rows.append(
            [
                name,
                summary.median,
                summary.spread,
                1e6 / summary.median,
                summary.median / base,
                Summary(CPU_US[backend, name]).median,
            ]
        )
        data[name] = summary.median / base
    table.notes.append(
        "max_in_flight caps the requests let into each host's httpx client at "
        "once (the rest wait in jsonrest, where waiting is cheap); httpx-aiohttp "
        "is the optional fast transport (`pip install jsonrest[fast]`, asyncio only). "
        "client CPU µs/req: this process's CPU time per request, without the "
        "server's."
    )
    return table, data
