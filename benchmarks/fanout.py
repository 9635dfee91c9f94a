"""Part 3: broadcast to N hosts that each answer after 50 ms."""

from __future__ import annotations

import resource
import threading
import time
from typing import Any

import anyio
import httpx

import jsonrest

from .harness import Summary, Table

PATH = "/item.json"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    hosts_all: list[str], sizes: list[int], count: int, delay: float
) -> tuple[Table, dict[str, Any]]:
    """Wall ms per broadcast (median over `count`) for each N, sync and async."""
    table = Table(
        f"Broadcast wall time, each host answering after {delay * 1000:.0f} ms "
        f"(median of {count} broadcasts)",
        [
            "hosts",
            "ideal ms",
            "sync Resources ms",
            "async (asyncio) ms",
            "async (trio) ms",
            "sequential httpx ms",
            "sync / ideal",
            "async / ideal",
        ],
    )
    series: dict[str, Any] = {
        "N": sizes,
        "sync": [],
        "asyncio": [],
        "trio": [],
        "sequential": [],
    }
    extra: dict[str, Any] = {}
    for n in sizes:
        hosts = hosts_all[:n]
        with jsonrest.Resources(hosts) as cluster:
            cluster.broadcast("GET", PATH)  # connect once: measure steady state
            values = []
            threads = 0
            for _ in range(count):
                start = time.perf_counter()
                cluster.broadcast("GET", PATH)
                values.append((time.perf_counter() - start) * 1000)
                threads = max(threads, threading.active_count())
            sync = Summary(values)
        if n == max(sizes):
            extra["threads"] = threads
            extra["rss_sync"] = _peak_rss_mb()

        async def run_async(hosts: list[str] = hosts) -> Summary:
            async with jsonrest.AsyncResources(hosts) as cluster:
                await cluster.broadcast("GET", PATH)
                values = []
                for _ in range(count):
                    start = time.perf_counter()
                    await cluster.broadcast("GET", PATH)
                    values.append((time.perf_counter() - start) * 1000)
                return Summary(values)

        asy = anyio.run(run_async, backend="asyncio")
        tri = anyio.run(run_async, backend="trio")
        if n <= 16:
            with httpx.Client() as client:
                start = time.perf_counter()
                for host in hosts:
                    client.get(f"http://{host}{PATH}").json()
                seq = (time.perf_counter() - start) * 1000
        else:
            seq = n * delay * 1000  # the sum of the delays: not worth waiting for
        table.rows.append(
            [
                n,
                delay * 1000,
                sync.median,
                asy.median,
                tri.median,
                seq if n <= 16 else f"≥ {seq:,.0f} (not run)",
                sync.median / (delay * 1000),
                asy.median / (delay * 1000),
            ]
        )
        series["sync"].append(sync.median)
        series["asyncio"].append(asy.median)
        series["trio"].append(tri.median)
        series["sequential"].append(seq)
    extra["rss"] = _peak_rss_mb()
    table.notes.append(
        f"At N = {max(sizes)}: peak threads in the process {extra['threads']} "
        f"(the sync broadcast pool, default max_workers=64), peak RSS {extra['rss']:.0f} MB "
        "for the whole benchmark process so far."
    )
    return table, series
