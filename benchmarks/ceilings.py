"""Part 7: the ceilings, httpx's transports driven bare, beside jsonrest and the peer.

A missed target of #17 is only worth chasing in jsonrest if httpx's own
transport, with nothing around it, could meet it. Each table here runs, in
the same rotated rounds against the same 4 hosts:

- jsonrest, as part 2 measures it;
- the ceiling: a loop building an `httpx.Request` per call as cheaply as
  httpx's public API allows (its URL parsed and its headers made once, the
  headers jsonrest sends, the body given as `stream=`) and handing it to
  `handle_request` / `handle_async_request` of a bare httpx transport,
  reading the body and decoding the JSON. That is the least any client built
  on httpx's transports can do per request: no selection, no health, no
  limits on the body, no errors turned into anything;
- the peer of the target (elastic-transport's urllib3 node, or its aiohttp
  node) and the library under it driven as bare (urllib3's pool, aiohttp's
  session), which is the peer's own floor;
- for the async targets measured against one raw `httpx.AsyncClient`, that
  client too, so the target's ratio can be read off the ceiling.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx

import jsonrest

from .harness import Summary, Table
from .overhead import raw_httpx, throughput
from .peers import _configs

PATH = "/item.json"
#: Connections a bare async pool keeps per host: jsonrest's default `limit`.
KEEP = 20
#: Pools per host in the "pinned" ceiling: 5 pools of 4 connections, the lanes
#: jsonrest had before lanes of 2 (each task keeps to one pool, so their size
#: matters less here than in jsonrest, where requests move between them).
LANES = 5

SYNC_OURS = "jsonrest.Resources.unicast()() (httpx)"
SYNC_CEILING = "ceiling: httpx.HTTPTransport.handle_request, round robin"
SYNC_PEER = "elastic-transport, urllib3 node"
SYNC_PEER_FLOOR = "urllib3.HTTPConnectionPool.request, round robin"

BASELINE = "httpx.AsyncClient, 1 host (target's baseline)"
ASYNC_OURS = "jsonrest.AsyncResources (httpx)"
ASYNC_CEILING = "ceiling: AsyncHTTPTransport, one per host"
ASYNC_CEILING_LANES = f"ceiling: AsyncHTTPTransport, {LANES} per host, tasks pinned"
ASYNC_LANES = "AsyncHTTPTransport in jsonrest's lanes, next host per request"
FAST_OURS = "jsonrest.AsyncResources (httpx-aiohttp)"
FAST_CEILING = "ceiling: httpx-aiohttp AiohttpTransport, one per host"
FAST_PEER = "elastic-transport, aiohttp node"
FAST_PEER_FLOOR = "aiohttp.ClientSession, one per host"

Made = tuple[Callable[[], Any], Callable[[], Any]]


def _urls(hosts: list[str]) -> list[httpx.URL]:
    return [httpx.URL(f"http://{host}{PATH}") for host in hosts]


def _headers(url: httpx.URL) -> httpx.Headers:
    """What jsonrest sends with a GET to `url`: httpx's default headers, with
    the codings its `max_body` can bound, and the Host first, as httpx puts it."""
    defaults = httpx.Client().headers
    defaults["accept-encoding"] = "gzip, deflate"
    return httpx.Headers([(b"Host", url.netloc), *defaults.raw])


_EMPTY = httpx.ByteStream(b"")


def _get(url: httpx.URL, headers: httpx.Headers) -> httpx.Request:
    """A GET as cheap as httpx's public API builds one: with `stream=` httpx
    adds no header of its own, and `headers` are copied, not parsed."""
    return httpx.Request("GET", url, headers=headers, stream=_EMPTY)


# Sync -------------------------------------------------------------------


def _sync_clients(hosts: list[str]) -> dict[str, Callable[[], Made]]:
    import elastic_transport as et
    import urllib3

    def ours() -> Made:
        cluster = jsonrest.Resources(hosts)
        return (lambda: cluster.unicast("GET", PATH)()), cluster.close

    def ceiling() -> Made:
        pools = [httpx.HTTPTransport() for _ in hosts]
        urls = _urls(hosts)
        targets = [(p, u, _headers(u)) for p, u in zip(pools, urls, strict=True)]
        turn = 0

        def call() -> Any:
            nonlocal turn
            pool, url, headers = targets[turn]
            turn = (turn + 1) % len(targets)
            response = pool.handle_request(_get(url, headers))
            try:
                return json.loads(response.read())
            finally:
                response.close()

        def close() -> None:
            for pool in pools:
                pool.close()

        return call, close

    def peer() -> Made:
        transport = et.Transport(_configs(hosts), node_class="urllib3")
        return (lambda: transport.perform_request("GET", PATH).body), transport.close

    def peer_floor() -> Made:
        pools = [
            urllib3.HTTPConnectionPool(h.split(":")[0], int(h.split(":")[1]))
            for h in hosts
        ]
        turn = 0

        def call() -> Any:
            nonlocal turn
            pool = pools[turn]
            turn = (turn + 1) % len(pools)
            return json.loads(pool.request("GET", PATH).data)

        def close() -> None:
            for pool in pools:
                pool.close()

        return call, close

    return {
        SYNC_OURS: ours,
        SYNC_CEILING: ceiling,
        SYNC_PEER: peer,
        SYNC_PEER_FLOOR: peer_floor,
    }


def _rotations(names: list[str], count: int) -> list[list[str]]:
    return [names[i % len(names) :] + names[: i % len(names)] for i in range(count)]


def sync_ceiling(
    hosts: list[str], n: int, count: int
) -> tuple[Table, dict[str, float]]:
    """Sequential req/s and CPU per request of jsonrest, the ceiling, the peer."""
    table = Table(
        f"Sync, 4 hosts, sequential ({count} rotated rounds of {n} requests)",
        ["client", "req/s (median)", "spread", "vs ceiling", "client CPU µs/req"],
    )
    made = {name: make() for name, make in _sync_clients(hosts).items()}
    rates: dict[str, list[float]] = {name: [] for name in made}
    cpus: dict[str, list[float]] = {name: [] for name in made}
    try:
        for call, _ in made.values():  # warm-up: connections, caches
            for _ in range(max(n // 5, 20)):
                call()
        for order in _rotations(list(made), count):
            for name in order:
                call = made[name][0]
                cpu = time.process_time()
                start = time.perf_counter()
                for _ in range(n):
                    call()
                rates[name].append(n / (time.perf_counter() - start))
                cpus[name].append((time.process_time() - cpu) / n * 1e6)
    finally:
        for _, close in made.values():
            close()
    return _rows(table, rates, cpus, SYNC_CEILING)


def _rows(
    table: Table,
    rates: dict[str, list[float]],
    cpus: dict[str, list[float]],
    ceiling: str,
) -> tuple[Table, dict[str, float]]:
    top = Summary(rates[ceiling]).median
    data: dict[str, float] = {}
    for name, values in rates.items():
        summary = Summary(values)
        table.rows.append(
            [
                name,
                summary.median,
                summary.spread,
                summary.median / top,
                Summary(cpus[name]).median,
            ]
        )
        data[name] = summary.median
        data[f"cpu: {name}"] = Summary(cpus[name]).median
    return table, data


# Async ------------------------------------------------------------------


def _bare_async(
    hosts: list[str], make: Callable[[], httpx.AsyncBaseTransport], lanes: int
) -> Callable[[], Made]:
    """The ceiling: `lanes` bare transports per host; each task keeps to one.

    A task takes the next transport the first time it calls, and keeps it:
    the tasks spread evenly and no choosing is left in the loop.
    """

    def made() -> Made:
        pools = [make() for _ in range(lanes * len(hosts))]
        urls = _urls(hosts) * lanes
        headers = [_headers(url) for url in urls]
        Target = tuple[httpx.AsyncBaseTransport, httpx.URL, httpx.Headers]
        mine: dict[object, Target] = {}

        async def call() -> Any:
            task = anyio.get_current_task().id
            target = mine.get(task)
            if target is None:
                at = len(mine) % len(pools)
                target = mine[task] = (pools[at], urls[at], headers[at])
            pool, url, head = target
            response = await pool.handle_async_request(_get(url, head))
            try:
                return json.loads(await response.aread())
            finally:
                await response.aclose()

        async def close() -> None:
            for pool in pools:
                await pool.aclose()

        return call, close

    return made


def _lanes_loop(hosts: list[str]) -> Callable[[], Made]:
    """The bare loop over each host's lanes as jsonrest makes them, the host
    taken in turn per request: what jsonrest's pools cost without jsonrest's
    per-request code above them."""
    from jsonrest._async._lanes import AsyncLanes
    from jsonrest._options import lane_sizes
    from jsonrest._resource_base import lane_limits

    def made() -> Made:
        def lane(keep: int) -> httpx.AsyncBaseTransport:
            return httpx.AsyncHTTPTransport(
                limits=lane_limits(keep, httpx.Limits().keepalive_expiry)
            )

        pools = [AsyncLanes(lane, lane_sizes(KEEP)) for _ in hosts]
        urls = _urls(hosts)
        targets = [(p, u, _headers(u)) for p, u in zip(pools, urls, strict=True)]
        turn = 0

        async def call() -> Any:
            nonlocal turn
            pool, url, headers = targets[turn]
            turn = (turn + 1) % len(targets)
            response = await pool.handle_async_request(_get(url, headers))
            try:
                return json.loads(await response.aread())
            finally:
                await response.aclose()

        async def close() -> None:
            for pool in pools:
                await pool.aclose()

        return call, close

    return made


def _pool(keep: int) -> Callable[[], httpx.AsyncBaseTransport]:
    return lambda: httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=keep)
    )


def _async_clients(hosts: list[str], backend: str) -> dict[str, Callable[[], Made]]:
    def ours(fast: bool = False) -> Callable[[], Made]:
        def make() -> Made:
            options: dict[str, Any] = {}
            if fast:
                from httpx_aiohttp import AiohttpTransport

                options["transport"] = AiohttpTransport()  # inside the event loop
            cluster = jsonrest.AsyncResources(hosts, **options)

            async def call() -> Any:
                return (await cluster.unicast("GET", PATH))()

            return call, cluster.aclose

        return make

    clients: dict[str, Callable[[], Made]] = {
        BASELINE: raw_httpx(hosts[0]),
        ASYNC_OURS: ours(),
        ASYNC_CEILING: _bare_async(hosts, _pool(KEEP), 1),
        ASYNC_CEILING_LANES: _bare_async(hosts, _pool(KEEP // LANES), LANES),
        ASYNC_LANES: _lanes_loop(hosts),
    }
    if backend != "asyncio":
        return clients

    import aiohttp
    import elastic_transport as et

    def fast_transport() -> httpx.AsyncBaseTransport:
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport()

    def peer() -> Made:
        transport = et.AsyncTransport(_configs(hosts), node_class="aiohttp")

        async def call() -> Any:
            return (await transport.perform_request("GET", PATH)).body

        return call, transport.close

    def peer_floor() -> Made:
        sessions = [
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) for _ in hosts
        ]
        urls = [f"http://{host}{PATH}" for host in hosts]
        mine: dict[object, int] = {}

        async def call() -> Any:
            task = anyio.get_current_task().id
            at = mine.get(task)
            if at is None:
                at = mine[task] = len(mine) % len(sessions)
            async with sessions[at].get(urls[at]) as response:
                return json.loads(await response.read())

        async def close() -> None:
            for session in sessions:
                await session.close()

        return call, close

    clients[FAST_OURS] = ours(fast=True)
    clients[FAST_CEILING] = _bare_async(hosts, fast_transport, 1)
    clients[FAST_PEER] = peer
    clients[FAST_PEER_FLOOR] = peer_floor
    return clients


def async_ceiling(
    hosts: list[str], n: int, count: int, tasks: int, backend: str
) -> tuple[Table, dict[str, float]]:
    """req/s at `tasks` concurrent tasks: jsonrest, the ceilings, the peers."""
    table = Table(
        f"Async ({backend}), 4 hosts, {tasks} tasks ({count} rotated rounds of "
        f"{n} requests)",
        ["client", "req/s (median)", "spread", "vs ceiling", "client CPU µs/req"],
    )
    rates: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}

    async def main() -> None:
        made: dict[str, Made] = {
            name: make() for name, make in _async_clients(hosts, backend).items()
        }
        try:
            for name, (call, _) in made.items():
                await throughput(call, max(n // 5, 50), tasks)
                rates[name], cpus[name] = [], []
            for order in _rotations(list(made), count):
                for name in order:
                    cpu = time.process_time()
                    rates[name].append(await throughput(made[name][0], n, tasks))
                    cpus[name].append((time.process_time() - cpu) / n * 1e6)
        finally:
            for _, close in made.values():
                await close()

    anyio.run(main, backend=backend)
    table, data = _rows(table, rates, cpus, ASYNC_CEILING_LANES)
    # The fast rows read against their own ceiling, not httpx's pool.
    if FAST_CEILING in rates:
        top = data[FAST_CEILING]
        for row in table.rows:
            if "aiohttp" in str(row[0]):
                row[3] = data[str(row[0])] / top
    table.notes.append(
        "vs ceiling: against the bare httpx transport with its connections "
        f"split into {LANES} pools per host, each task keeping to one"
        + (
            "; the aiohttp rows against the bare httpx-aiohttp transport"
            if FAST_CEILING in rates
            else ""
        )
        + ". Bare transports and bare sessions: each task keeps to one host (and "
        "one pool), so nothing is chosen per request. The lanes row chooses per "
        "request as jsonrest must (a host, then its least busy pool), with none "
        "of jsonrest's code above the lanes: of jsonrest's distance to the "
        "ceiling, the part that comes from spreading requests over httpx's pools "
        "rather than from jsonrest's own work per request."
    )
    return table, data


def measure(
    hosts: list[str], sync: tuple[int, int], async_: tuple[int, int], tasks: int
) -> tuple[list[Table], dict[str, Any]]:
    """Every ceiling table, and the figures by row name (and backend)."""
    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL)
    tables: list[Table] = []
    data: dict[str, Any] = {}
    table, data["sync"] = sync_ceiling(hosts, *sync)
    tables.append(table)
    for backend in ("asyncio", "trio"):
        table, data[backend] = async_ceiling(hosts, *async_, tasks, backend)
        tables.append(table)
    return tables, data


def summary(data: dict[str, Any]) -> Table:
    """Each missed target of #17 against what the bare transport reaches."""
    table = Table(
        "The missed targets of #17 against the ceiling of httpx's transports",
        [
            "target",
            "needs",
            "jsonrest",
            "ceiling",
            "jsonrest / ceiling",
            "jsonrest's lanes, bare",
        ],
    )
    s = data["sync"]
    table.rows.append(
        [
            "sync unicast vs elastic-transport's urllib3 node (≥ 1.0×)",
            "≥ 1.00×",
            f"{s[SYNC_OURS] / s[SYNC_PEER]:.2f}×",
            f"{s[SYNC_CEILING] / s[SYNC_PEER]:.2f}×",
            f"{s[SYNC_OURS] / s[SYNC_CEILING]:.2f}",
            "–",
        ]
    )
    for backend, needs in (("asyncio", 3.0), ("trio", 2.0)):
        a = data[backend]
        best = max(a[ASYNC_CEILING], a[ASYNC_CEILING_LANES])
        table.rows.append(
            [
                f"{backend}, 4 hosts, 50 tasks vs one raw httpx.AsyncClient",
                f"≥ {needs:.2f}×",
                f"{a[ASYNC_OURS] / a[BASELINE]:.2f}×",
                f"{best / a[BASELINE]:.2f}×",
                f"{a[ASYNC_OURS] / best:.2f}",
                f"{a[ASYNC_LANES] / a[BASELINE]:.2f}×",
            ]
        )
    a = data["asyncio"]
    table.rows.append(
        [
            "jsonrest[fast] vs elastic-transport's aiohttp node (≥ 1.0×)",
            "≥ 1.00×",
            f"{a[FAST_OURS] / a[FAST_PEER]:.2f}×",
            f"{a[FAST_CEILING] / a[FAST_PEER]:.2f}×",
            f"{a[FAST_OURS] / a[FAST_CEILING]:.2f}",
            "–",
        ]
    )
    table.notes.append(
        "ceiling: the bare transport measured in the same rounds, in the "
        "target's own terms; the async ceiling is the better of its two rows. A "
        "target whose ceiling is below what it needs cannot be met by any "
        "client on that transport, only by a cheaper wire. jsonrest's lanes, "
        "bare: httpx's transports spread over hosts and pools as jsonrest "
        "spreads them, without jsonrest's code per request."
    )
    return table
