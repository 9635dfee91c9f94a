"""Part 3: broadcast to N hosts that each answer after 50 ms.

`python -m benchmarks.fanout MODE COUNT HOST...` is the probe run in a fresh
process to measure peak RSS and threads of one mode alone.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
import httpx

import jsonrest

from .harness import Summary, Table
from .servers import ROOT

PATH = "/item.json"
MODES = ("sync", "asyncio", "trio", "asyncio + httpx-aiohttp")
#: The event loops the bare transports are driven in, for the ceiling.
BARE = ("asyncio", "trio")


def _rss_mb(field: str) -> float:
    """This process's resident set (VmRSS) or its high-water mark (VmHWM), in MB.

    Linux's getrusage() maximum survives exec, so a fresh process would report
    its parent's peak: /proc has the process's own figures.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(hosts: list[str], count: int) -> tuple[Summary, int]:
    with jsonrest.Resources(hosts) as cluster:
        cluster.broadcast("GET", PATH)  # connect once: measure steady state
        values = []
        threads = 0
        for _ in range(count):
            start = time.perf_counter()
            cluster.broadcast("GET", PATH)
            values.append((time.perf_counter() - start) * 1000)
            threads = max(threads, threading.active_count())
    return Summary(values), threads


def _async(hosts: list[str], count: int, mode: str) -> tuple[Summary, int]:
    async def run() -> tuple[Summary, int]:
        options: dict[str, Any] = {}
        if "aiohttp" in mode:
            from httpx_aiohttp import AiohttpTransport

            options["transport"] = AiohttpTransport()
        async with jsonrest.AsyncResources(hosts, **options) as cluster:
            await cluster.broadcast("GET", PATH)
            values = []
            threads = 0
            for _ in range(count):
                start = time.perf_counter()
                await cluster.broadcast("GET", PATH)
                values.append((time.perf_counter() - start) * 1000)
                threads = max(threads, threading.active_count())
            return Summary(values), threads

    return anyio.run(run, backend="trio" if mode == "trio" else "asyncio")


def run_mode(mode: str, hosts: list[str], count: int) -> tuple[Summary, int]:
    """Wall ms per broadcast (over `count`) and the most threads seen."""
    if mode == "sync":
        return _sync(hosts, count)
    return _async(hosts, count, mode)


async def _timed_fans(
    calls: list[Callable[[], Awaitable[None]]], count: int
) -> Summary:
    """Wall ms of `count` fan-outs of `calls` in a task group, after one to
    connect, as the broadcasts are measured."""

    async def fan() -> None:
        async with anyio.create_task_group() as group:
            for call in calls:
                group.start_soon(call)

    await fan()
    values = []
    for _ in range(count):
        start = time.perf_counter()
        await fan()
        values.append((time.perf_counter() - start) * 1000)
    return Summary(values)


def _raw_async(hosts: list[str], count: int) -> Summary:
    """The baseline: one raw httpx.AsyncClient per host, fanned out by a task group."""

    async def run() -> Summary:
        clients = [httpx.AsyncClient() for _ in hosts]

        async def one(client: httpx.AsyncClient, host: str) -> None:
            (await client.get(f"http://{host}{PATH}")).json()

        try:
            calls = [partial(one, c, h) for c, h in zip(clients, hosts, strict=True)]
            return await _timed_fans(calls, count)
        finally:
            for client in clients:
                await client.aclose()

    return anyio.run(run, backend="asyncio")


def _bare_async(hosts: list[str], count: int, backend: str) -> Summary:
    """The ceiling of any client on httpx: one bare AsyncHTTPTransport per
    host, driven by `handle_async_request` in a task group, with none of the
    client layer and nothing chosen or recorded per request."""

    async def run() -> Summary:
        transports = [httpx.AsyncHTTPTransport() for _ in hosts]
        urls = [httpx.URL(f"http://{host}{PATH}") for host in hosts]

        async def one(transport: httpx.AsyncHTTPTransport, url: httpx.URL) -> None:
            request = httpx.Request("GET", url, headers={"Host": url.netloc.decode()})
            response = await transport.handle_async_request(request)
            try:
                json.loads(await response.aread())
            finally:
                await response.aclose()

        try:
            calls = [partial(one, t, u) for t, u in zip(transports, urls, strict=True)]
            return await _timed_fans(calls, count)
        finally:
            for transport in transports:
                await transport.aclose()

    return anyio.run(run, backend=backend)


def _sequential(hosts: list[str]) -> float:
    with httpx.Client() as client:
        for host in hosts:  # connect first, as the broadcasts do
            client.get(f"http://{host}{PATH}")
        start = time.perf_counter()
        for host in hosts:
            client.get(f"http://{host}{PATH}").json()
        return (time.perf_counter() - start) * 1000


def probe(mode: str, hosts: list[str], count: int) -> dict[str, Any]:
    """Peak RSS and threads of `mode` alone, measured in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.fanout", mode, str(count), *hosts],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    hosts_all: list[str],
    sizes: list[int],
    count: int,
    delay: float,
    sequential_up_to: int,
) -> tuple[list[Table], dict[str, Any]]:
    """Wall ms per broadcast (median over `count`) for each N and mode."""
    ideal = delay * 1000
    table = Table(
        f"Broadcast wall time, each host answering after {ideal:.0f} ms "
        f"(median of {count} broadcasts; ratio to the ideal {ideal:.0f} ms in brackets)",
        [
            "hosts",
            *(f"{mode} ms" for mode in MODES),
            "raw httpx + task group (asyncio) ms",
            *(f"ceiling: bare transports ({backend}) ms" for backend in BARE),
            "sequential httpx loop ms",
        ],
    )
    series: dict[str, Any] = {"N": sizes, **{mode: [] for mode in MODES}}
    series["raw httpx"] = []
    for backend in BARE:
        series[f"bare {backend}"] = []
    series["sequential"] = []
    for n in sizes:
        hosts = hosts_all[:n]
        row: list[Any] = [n]
        for mode in MODES:
            summary, _ = run_mode(mode, hosts, count)
            series[mode].append(summary.median)
            row.append(f"{summary.median:.1f} ({summary.median / ideal:.2f}×)")
        raw = _raw_async(hosts, count)
        series["raw httpx"].append(raw.median)
        row.append(f"{raw.median:.1f} ({raw.median / ideal:.2f}×)")
        for backend in BARE:
            bare = _bare_async(hosts, count, backend)
            series[f"bare {backend}"].append(bare.median)
            row.append(f"{bare.median:.1f} ({bare.median / ideal:.2f}×)")
        if n <= sequential_up_to:
            seq = _sequential(hosts)
            row.append(f"{seq:,.0f}")
        else:
            seq = n * ideal  # the sum of the delays, at the least
            row.append(f"≥ {seq:,.0f} (not run)")
        series["sequential"].append(seq)
        table.rows.append(row)
    table.notes.append(
        "sync: Resources.broadcast (a thread pool, max_workers=64); asyncio and "
        "trio: AsyncResources.broadcast (an anyio task group); the last mode uses "
        "the optional httpx-aiohttp transport. The raw baseline is one "
        "httpx.AsyncClient per host in an anyio task group, without jsonrest. "
        "The ceilings drive one bare httpx.AsyncHTTPTransport per host "
        "(`handle_async_request`) in a task group: what any client on httpx's "
        "transports can reach, the wire and the event loop alone. "
        f"Target: 64 hosts within 1.5× of {ideal:.0f} ms."
    )
    size = max(sizes)
    resources = Table(
        f"Resources at N = {size}, each mode alone in a fresh process",
        ["mode", "wall ms (median)", "threads (peak)", "RSS before MB", "peak RSS MB"],
    )
    for mode in MODES:
        got = probe(mode, hosts_all[:size], count)
        resources.rows.append(
            [mode, got["median_ms"], got["threads"], got["rss_before"], got["rss_peak"]]
        )
        series[f"probe {mode}"] = got
    resources.notes.append(
        "RSS before: after imports, before any client exists; peak RSS is the "
        "process's high-water mark after the broadcasts."
    )
    return [table, resources], series


if __name__ == "__main__":
    mode_arg, count_arg, *host_args = sys.argv[1:]
    if "aiohttp" in mode_arg:
        import httpx_aiohttp  # noqa: F401  (imports count in "before", as httpx does)
    before = _rss_mb("VmRSS")
    summary, threads = run_mode(mode_arg, host_args, int(count_arg))
    print(
        json.dumps(
            {
                "median_ms": summary.median,
                "threads": threads,
                "rss_before": before,
                "rss_peak": _rss_mb("VmHWM"),
            }
        )
    )
