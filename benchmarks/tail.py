"""Part "tail": slow hosts, stalls, quorums, the retry budget, outlier
ejection, and the ejection cap and panic rule, against servers on 127.0.0.1
whose behaviour changes while the client runs (`ControlledCluster`).

Every scenario runs the configuration of before this work ("today": in-flight
counts alone, no budget, no outlier ejection, no cap) beside the defaults, in
the same run.
"""

from __future__ import annotations

import collections
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

import jsonrest
from jsonrest._health import LIVE

from .harness import Table
from .servers import ControlledCluster

PATH = "/item.json"
#: The options of the code before tail tolerance: nothing of it switched on.
TODAY: dict[str, Any] = {
    "outliers": None,
    "retry_budget": None,
    "max_ejected": 1.0,
    "panic": 0.0,
}


class InFlightOnly(jsonrest.Resources):
    """Today's priority: live hosts by requests in flight alone."""

    def priority(self, host: str) -> Any:
        return _in_flight_only(self, host)


class AsyncInFlightOnly(jsonrest.AsyncResources):
    """Today's priority, awaitable twin."""

    def priority(self, host: str) -> Any:
        return _in_flight_only(self, host)


def _in_flight_only(resources: Any, host: str) -> Any:
    rank = resources.health.priority(host)
    if rank is None or rank[0] != LIVE:
        return rank
    return (LIVE, resources.health.state(host).in_flight)


@dataclass
class Sizes:
    """Counts of one run of the part."""

    conc1: int = 1500
    conc50: int = 3000
    rounds: int = 10
    stalls: int = 3000
    quorum: int = 30
    full: int = 5
    budget_rate: float = 100.0
    budget_bad: float = 10.0
    budget_after: float = 4.0
    failing_calls: int = 2000
    proxy_rate: float = 150.0
    proxy_seconds: float = 6.0
    panic_before: float = 1.0
    panic_down: float = 2.0
    panic_after: float = 3.0


QUICK = Sizes(
    conc1=200,
    conc50=500,
    rounds=2,
    stalls=300,
    quorum=5,
    full=2,
    budget_rate=50.0,
    budget_bad=3.0,
    budget_after=1.0,
    failing_calls=300,
    proxy_seconds=2.0,
    panic_before=0.5,
    panic_down=2.0,
    panic_after=2.0,
)


@dataclass
class Result:
    """What the part measured: tables, targets and chart data."""

    tables: list[Table] = field(default_factory=list)
    #: (name, figure, met)
    targets: list[tuple[str, str, bool | None]] = field(default_factory=list)
    cdfs: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def pct(values: Sequence[float], share: float) -> float:
    """The `share` quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def attempts(resources: Any) -> int:
    """Every request a Resources has sent (hedges and failovers included)."""
    return sum(s["requests"] for s in resources.stats().values())


# Slow host ----------------------------------------------------------------


def _sequential(resources: Any, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        resources.unicast("GET", PATH)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def _tasks(resources: Any, n: int, tasks: int) -> list[float]:
    times: list[float] = []
    left = [n]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            start = time.perf_counter()
            await resources.unicast("GET", PATH)
            times.append((time.perf_counter() - start) * 1000)

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(worker)
    return times


#: (name, host 4 slow?, today's rule?) of the slow-host rows.
SLOW_CONFIGS = (
    ("all healthy, default", False, False),
    ("one slow, in-flight only (today)", True, True),
    ("one slow, default (peak-EWMA)", True, False),
)


def slow_host(cluster: ControlledCluster, sizes: Sizes, out: Result) -> None:
    hosts = cluster.hosts[:4]
    table = Table(
        "One of 4 hosts answers in 10× the others' time: unicast GET latency",
        [
            "concurrency",
            "configuration",
            "p50 ms",
            "p99 ms",
            "p99 / healthy p99",
            "share on the slow host",
        ],
    )
    cdfs: dict[str, list[float]] = {}
    rounds = max(2, sizes.rounds)
    for label, fast, n in (
        ("1 (sync)", 0.005, sizes.conc1),
        ("50 tasks (asyncio)", 0.1, sizes.conc50),
    ):
        cluster.reset()
        for index in range(4):
            cluster.set(index, delay=fast)
        times: dict[str, list[float]] = {name: [] for name, _, _ in SLOW_CONFIGS}
        counts: dict[str, list[int]] = {name: [0, 0] for name, _, _ in SLOW_CONFIGS}

        # The rows take turns, round after round, in a rotating order, so that
        # a busy patch of the machine falls on all of them alike; the fourth
        # host is slow in some rows' turns only.
        def turn(slow: bool, fast: float = fast) -> None:
            cluster.set(3, delay=fast * 10 if slow else fast)

        if label.startswith("1"):
            clients = {
                name: (
                    InFlightOnly(hosts, **TODAY) if today else jsonrest.Resources(hosts)
                )
                for name, _, today in SLOW_CONFIGS
            }
            try:
                for name, slow, _ in SLOW_CONFIGS:  # warm: connected, estimated
                    turn(slow)
                    _sequential(clients[name], 40)
                for round_ in range(rounds):
                    order = SLOW_CONFIGS[round_ % 3 :] + SLOW_CONFIGS[: round_ % 3]
                    for name, slow, _ in order:
                        turn(slow)
                        client = clients[name]
                        before = client.stats()[hosts[3]]["requests"], attempts(client)
                        times[name] += _sequential(client, n // rounds)
                        counts[name][0] += (
                            client.stats()[hosts[3]]["requests"] - before[0]
                        )
                        counts[name][1] += attempts(client) - before[1]
            finally:
                for client in clients.values():
                    client.close()
        else:

            async def run(
                times: dict[str, list[float]] = times,
                counts: dict[str, list[int]] = counts,
                n: int = n,
            ) -> None:
                made = {
                    name: (
                        AsyncInFlightOnly(hosts, **TODAY)
                        if today
                        else jsonrest.AsyncResources(hosts)
                    )
                    for name, _, today in SLOW_CONFIGS
                }
                try:
                    for name, slow, _ in SLOW_CONFIGS:
                        turn(slow)
                        await _tasks(made[name], 400, 50)
                    for round_ in range(rounds):
                        order = SLOW_CONFIGS[round_ % 3 :] + SLOW_CONFIGS[: round_ % 3]
                        for name, slow, _ in order:
                            turn(slow)
                            client = made[name]
                            slow0 = client.stats()[hosts[3]]["requests"]
                            all0 = attempts(client)
                            times[name] += await _tasks(client, n // rounds, 50)
                            counts[name][0] += (
                                client.stats()[hosts[3]]["requests"] - slow0
                            )
                            counts[name][1] += attempts(client) - all0
                finally:
                    for client in made.values():
                        await client.aclose()

            anyio.run(run)
        healthy = pct(times["all healthy, default"], 0.99)
        for name, _, _ in SLOW_CONFIGS:
            cdfs[f"{label}: {name}"] = times[name]
            p99 = pct(times[name], 0.99)
            table.rows.append(
                [
                    label,
                    name,
                    statistics.median(times[name]),
                    p99,
                    f"{p99 / healthy:.2f}×",
                    f"{counts[name][0] / max(1, counts[name][1]):.1%}",
                ]
            )
        ratio = pct(times["one slow, default (peak-EWMA)"], 0.99) / healthy
        before = pct(times["one slow, in-flight only (today)"], 0.99) / healthy
        out.targets.append(
            (
                f"one of 4 hosts 10× slower, concurrency {label}: p99 ≤ 1.5× the "
                "all-healthy p99",
                f"{ratio:.2f}× (today: {before:.2f}×)",
                ratio <= 1.5,
            )
        )
    table.notes.append(
        "Fast hosts answer after 5 ms (concurrency 1) or 100 ms (50 tasks: long "
        "enough that the servers' time, not the client's event loop, makes the "
        "latency), the slow one after 10× that. 'Today' ranks live hosts by "
        "requests in flight alone, as jsonrest did before. Each row's client "
        "first warms up (40 requests at concurrency 1, 400 at 50 tasks, not "
        "counted: a cold start spreads its first requests over every host, the "
        f"slow one included); then the rows take turns in {rounds} rounds, in a "
        "rotating order, so that a busy patch of the machine falls on all alike."
    )
    out.tables.append(table)
    out.cdfs["slow"] = cdfs


# Stalls and hedging -------------------------------------------------------


def stalls(cluster: ControlledCluster, sizes: Sizes, out: Result) -> None:
    hosts = cluster.hosts[:4]
    cluster.reset()
    for index in range(4):
        cluster.set(index, stall=0.01, stall_for=1.0)
    table = Table(
        "Every host stalls a random 1% of requests for 1 s: sequential GETs "
        "(sync unless named)",
        ["configuration", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "extra requests"],
    )
    cdfs: dict[str, list[float]] = {}
    runs = {}
    for name, hedge in (
        ("no hedging", None),
        ("hedge after 10 ms", 0.01),
        ('hedge="adaptive" (p97 of recent latency)', "adaptive"),
    ):
        with jsonrest.Resources(hosts, hedge=hedge) as resources:
            _sequential(resources, 30)  # connected, and the estimate warmed up
            before = attempts(resources)
            times = _sequential(resources, sizes.stalls)
            extra = (attempts(resources) - before - sizes.stalls) / sizes.stalls
        runs[name] = (times, extra)
        cdfs[name] = times
    for backend in ("asyncio", "trio"):

        async def run() -> tuple[list[float], float]:
            async with jsonrest.AsyncResources(hosts, hedge="adaptive") as resources:
                for _ in range(30):
                    await resources.unicast("GET", PATH)
                before = attempts(resources)
                times = []
                for _ in range(sizes.stalls):
                    start = time.perf_counter()
                    await resources.unicast("GET", PATH)
                    times.append((time.perf_counter() - start) * 1000)
                return times, (attempts(resources) - before) / sizes.stalls - 1

        runs[f'hedge="adaptive", {backend}'] = anyio.run(run, backend=backend)
    for name, (times, extra) in runs.items():
        table.rows.append(
            [
                name,
                statistics.median(times),
                pct(times, 0.99),
                pct(times, 0.999),
                max(times),
                f"{extra:+.1%}",
            ]
        )
    base = pct(runs["no hedging"][0], 0.999)
    figures, met = [], True
    for label, name in (
        ("sync", 'hedge="adaptive" (p97 of recent latency)'),
        ("asyncio", 'hedge="adaptive", asyncio'),
        ("trio", 'hedge="adaptive", trio'),
    ):
        times, extra = runs[name]
        gain = base / pct(times, 0.999)
        met = met and gain >= 10 and extra <= 0.05
        figures.append(
            f"{label} {pct(times, 0.999):.1f} ms ({gain:.0f}×, {extra:+.1%} requests)"
        )
    out.targets.append(
        (
            "every host stalls 1% of requests for 1 s: adaptive hedging cuts p99.9 "
            "at least 10× for at most 5% extra requests",
            f"p99.9 without hedging {base:,.0f} ms; with: " + ", ".join(figures),
            met,
        )
    )
    table.notes.append(
        f"{sizes.stalls} sequential GETs per row, after 30 to warm up. Extra "
        "requests: attempts sent (hedges included) over calls, minus one."
    )
    out.tables.append(table)
    out.cdfs["hedge"] = cdfs


# Quorum -------------------------------------------------------------------


def quorum(cluster: ControlledCluster, sizes: Sizes, out: Result) -> None:
    hosts = cluster.hosts[:8]
    cluster.reset()
    for index in range(8):
        cluster.set(index, delay=0.1)
    cluster.set(7, delay=1.0)
    table = Table(
        "8 hosts, one answers in 1 s and seven in 100 ms: broadcast wall time",
        ["client", "call", "median ms", "p90 ms", "÷ one fast host's GET"],
    )
    with jsonrest.Resources(hosts) as resources:
        resources[hosts[0]].get(PATH)
        single = statistics.median(
            _timed(lambda: resources[hosts[0]].get(PATH), sizes.quorum)
        )

    def sync_run(call: Callable[[Any], Any], n: int) -> list[float]:
        with jsonrest.Resources(hosts) as resources:
            resources.broadcast("GET", PATH, quorum=7)
            return _timed(lambda: call(resources), n)

    rows: dict[tuple[str, str], list[float]] = {
        ("sync", "broadcast"): sync_run(lambda r: r.broadcast("GET", PATH), sizes.full),
        ("sync", "quorum=5"): sync_run(
            lambda r: r.broadcast("GET", PATH, quorum=5), sizes.quorum
        ),
    }
    for backend in ("asyncio", "trio"):
        for call, n, quorum_k in (
            ("broadcast", sizes.full, None),
            ("quorum=5", sizes.quorum, 5),
        ):

            async def run(k: int | None = quorum_k, count: int = n) -> list[float]:
                async with jsonrest.AsyncResources(hosts) as resources:
                    await resources.broadcast("GET", PATH, quorum=7)
                    times = []
                    for _ in range(count):
                        start = time.perf_counter()
                        await resources.broadcast("GET", PATH, quorum=k)
                        times.append((time.perf_counter() - start) * 1000)
                    return times

            rows[(backend, call)] = anyio.run(run, backend=backend)
    worst = 0.0
    for (client, call), times in rows.items():
        ratio = statistics.median(times) / single
        if call != "broadcast":
            worst = max(worst, ratio)
        table.rows.append(
            [client, call, statistics.median(times), pct(times, 0.9), f"{ratio:.2f}×"]
        )
    table.notes.append(
        f"One fast host's GET (the fifth-fastest host's time): median {single:.1f} ms."
    )
    out.tables.append(table)
    out.targets.append(
        (
            "8 hosts, one slow: broadcast(quorum=5) within 1.2× the fifth-fastest host",
            f"{worst:.2f}× at worst (sync, asyncio, trio; a full broadcast takes the "
            "slow host's 1 s)",
            worst <= 1.2,
        )
    )


def _timed(call: Callable[[], Any], n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


# Retry budget -------------------------------------------------------------


async def _steady(
    resources: Any,
    rate: float,
    seconds: float,
    method: str = "GET",
    record: Callable[[float, Any], None] | None = None,
    origin: float | None = None,
) -> None:
    """Open-loop load: `rate` calls a second for `seconds`, each its own task;
    `record(when, outcome)` with `when` in seconds since `origin` (or now)."""
    start = time.perf_counter() if origin is None else origin

    async def one(index: int) -> None:
        sent = time.perf_counter() - start
        call_method = method if method != "MIXED" else ("GET", "POST")[index % 2]
        try:
            response = await resources.unicast(
                call_method,
                PATH,
                None if call_method == "GET" else {"n": index},
                headers={"x-call-began": repr(sent)},  # its attempts carry it
            )
        except jsonrest.Error as error:
            response = error
        if record is not None:
            record(sent, (call_method, response))

    async with anyio.create_task_group() as group:
        for index in range(int(rate * seconds)):
            wait = start + index / rate - time.perf_counter()
            if wait > 0:
                await anyio.sleep(wait)
            group.start_soon(one, index)


def budget(cluster: ControlledCluster, sizes: Sizes, out: Result) -> None:
    cluster.reset()
    seconds = sizes.budget_bad + sizes.budget_after
    table = Table(
        f"Every host answers 503 for {sizes.budget_bad:.0f} s, retries=2, "
        f"{sizes.budget_rate:.0f} calls a second (asyncio)",
        [
            "configuration",
            "calls",
            "requests",
            "amplification while failing",
            "after",
            "calls answered 200 after",
        ],
    )
    series: dict[str, Any] = {}

    async def one_config(
        name: str, offset: int, options: dict[str, Any], origin: float
    ) -> None:
        hosts = cluster.hosts[offset : offset + 4]
        calls: list[tuple[float, Any]] = []
        requests: list[float] = []

        async def sent(request: Any) -> None:
            # Every attempt, counted for the call it belongs to: when that
            # call began (a retry may be sent much later on a busy machine).
            requests.append(float(request.headers["x-call-began"]))

        async with jsonrest.AsyncResources(
            hosts, event_hooks={"request": [sent]}, **options
        ) as resources:
            await _steady(
                resources,
                sizes.budget_rate,
                seconds,
                record=lambda at, got: calls.append((at, got)),
                origin=origin,
            )
        # Per 0.5 s: the requests of the calls begun in it, over those calls.
        begun = collections.Counter(int(at / 0.5) for at, _ in calls)
        went = collections.Counter(int(at / 0.5) for at in requests)
        xs = [index * 0.5 for index in sorted(begun)]
        amp = [went[index] / begun[index] for index in sorted(begun)]
        edge = int((sizes.budget_bad - 0.5) / 0.5)  # bins wholly while failing
        failing = sum(went[i] for i in range(edge)) / max(
            1, sum(begun[i] for i in range(edge))
        )
        after = [a for t, a in zip(xs, amp, strict=False) if t >= sizes.budget_bad + 1]
        late = [r for t, r in calls if t >= sizes.budget_bad + 1]
        ok_after = [r for r in late if getattr(r[1], "status", 0) == 200]
        series[name] = (xs, amp, failing)
        table.rows.append(
            [
                name,
                len(calls),
                len(requests),
                f"{failing:.2f}×",
                f"{statistics.mean(after):.2f}×" if after else "–",
                f"{len(ok_after)} of {len(late)}",
            ]
        )

    async def one_after_the_other() -> None:
        # Sequential rather than side by side: together they would offer
        # 400 requests a second to one Python server on a shared machine.
        for name, offset, options in (
            ("no budget (today)", 0, TODAY),
            ("default budget", 4, {}),
        ):
            for index in range(8):
                cluster.set(index, status=503)
            origin = time.perf_counter()
            async with anyio.create_task_group() as group:
                group.start_soon(one_config, name, offset, options, origin)
                await anyio.sleep(sizes.budget_bad)
                for index in range(8):
                    cluster.set(index, status=0)

    anyio.run(one_after_the_other)
    # The reserve: 10 retries a second, so 100 in any 10 s window, over the
    # calls of the bins measured (those that end before the hosts recover).
    floor = 100 / (sizes.budget_rate * min(sizes.budget_bad - 0.5, 10.0))
    got = series["default budget"][2]
    out.targets.append(
        (
            "every host answers 503, retries=2, steady load: amplification ≤ 1.2× + "
            f"the floor ({floor:.2f} at {sizes.budget_rate:.0f} calls/s) with the default budget",
            f"{got:.2f}× (no budget: {series['no budget (today)'][2]:.2f}×)",
            got <= 1.2 + floor + 0.02,
        )
    )
    table.notes.append(
        "Amplification: requests the hosts received per call begun, in 0.5 s "
        "bins. The floor is the budget's reserve of 10 retries a second."
    )
    out.tables.append(table)
    out.series["budget"] = series


def one_failing(cluster: ControlledCluster, sizes: Sizes, out: Result) -> None:
    hosts = cluster.hosts[:4]
    table = Table(
        "1 of 4 hosts answers 503 (no Retry-After): GET at 50 tasks (asyncio)",
        [
            "configuration",
            "calls",
            "not 200",
            "requests per call",
            "share of requests on the failing host",
        ],
    )
    failures = {}
    for name, options in (("today", TODAY), ("default (budget, outliers)", {})):
        cluster.reset()
        cluster.set(0, status=503)

        async def run(options: dict[str, Any] = options) -> tuple[int, float, float]:
            kind = AsyncInFlightOnly if options else jsonrest.AsyncResources
            async with kind(hosts, **options) as resources:
                bad = [0]

                async def calls() -> None:
                    left = [sizes.failing_calls]

                    async def worker() -> None:
                        while left[0] > 0:
                            left[0] -= 1
                            response = await resources.unicast("GET", PATH)
                            bad[0] += response.status != 200

                    async with anyio.create_task_group() as group:
                        for _ in range(50):
                            group.start_soon(worker)

                await calls()
                total = attempts(resources)
                on = resources.stats()[hosts[0]]["requests"]
                return bad[0], total / sizes.failing_calls, on / total

        bad, per_call, share = anyio.run(run)
        failures[name] = bad
        table.rows.append(
            [name, sizes.failing_calls, bad, f"{per_call:.3f}", f"{share:.1%}"]
        )
    out.tables.append(table)
    out.targets.append(
        (
            "1 of 4 hosts answers 503: every call still succeeds with the budget on",
            f"{failures['default (budget, outliers)']} of {sizes.failing_calls} calls "
            f"failed (today: {failures['today']})",
            failures["default (budget, outliers)"] == 0,
        )
    )


def proxy(cluster: ControlledCluster, sizes: Sizes, out: Result) -> None:
    hosts = cluster.hosts[:4]
    table = Table(
        f"1 of 4 hosts answers 502 to everything (a proxy with a dead upstream): "
        f"{sizes.proxy_rate:.0f} calls a second, half GET, half POST (asyncio)",
        [
            "configuration",
            "share of requests to it, first second",
            "… after the first second",
            "ejected after",
            "POSTs answered 502 after that (today: after the first second)",
            "GETs not 200",
        ],
    )
    shares = {}
    for name, options in (("today", TODAY), ("default (outlier ejection)", {})):
        cluster.reset()
        cluster.set(0, status=502)
        calls: list[tuple[float, Any]] = []
        samples: list[tuple[float, int, int]] = []
        ejected: list[float] = []

        async def run(
            options: dict[str, Any] = options,
            samples: list[tuple[float, int, int]] = samples,
            calls: list[tuple[float, Any]] = calls,
            ejected: list[float] = ejected,
        ) -> None:
            kind = AsyncInFlightOnly if options else jsonrest.AsyncResources
            async with kind(hosts, **options) as resources:
                health = resources.health
                eject = health.eject
                start = time.perf_counter()

                def timed_eject(state: Any, epoch: Any = None) -> float:
                    # Measuring only: when the host was first ejected.
                    delay = eject(state, epoch)
                    if delay and not ejected:
                        ejected.append(time.perf_counter() - start)
                    return delay

                health.eject = timed_eject  # type: ignore[method-assign]

                async def sample() -> None:
                    start = time.perf_counter()
                    while time.perf_counter() - start < sizes.proxy_seconds + 0.2:
                        stats = resources.stats()
                        samples.append(
                            (
                                time.perf_counter() - start,
                                stats[hosts[0]]["requests"],
                                sum(s["requests"] for s in stats.values()),
                            )
                        )
                        await anyio.sleep(0.1)

                async with anyio.create_task_group() as group:
                    group.start_soon(sample)
                    await _steady(
                        resources,
                        sizes.proxy_rate,
                        sizes.proxy_seconds,
                        "MIXED",
                        record=lambda sent, got: calls.append((sent, got)),
                    )

        anyio.run(run)
        first = [s for s in samples if s[0] <= 1.0][-1]
        last = samples[-1]
        early = first[1] / max(1, first[2])
        late = (last[1] - first[1]) / max(1, last[2] - first[2])
        after = ejected[0] if ejected else 1.0
        lost = sum(
            1
            for t, (m, r) in calls
            if t > after and m == "POST" and getattr(r, "status", 0) == 502
        )
        get_bad = sum(
            1 for t, (m, r) in calls if m == "GET" and getattr(r, "status", 0) != 200
        )
        shares[name] = (late, lost)
        table.rows.append(
            [
                name,
                f"{early:.1%}",
                f"{late:.1%}",
                f"{ejected[0]:.2f} s" if ejected else "never",
                lost,
                get_bad,
            ]
        )
    out.tables.append(table)
    late, lost = shares["default (outlier ejection)"]
    out.targets.append(
        (
            "1 of 4 hosts answers 502 to everything: < 5% of requests reach it after "
            "the first second, no POST lost to it after ejection",
            f"{late:.1%} after the first second, {lost} POSTs lost after the "
            "ejection (today: "
            f"{shares['today'][0]:.1%}, {shares['today'][1]} POSTs lost)",
            late < 0.05 and lost == 0,
        )
    )


def panic(cluster: ControlledCluster, sizes: Sizes, out: Result) -> None:
    hosts = cluster.hosts[:4]
    sizes.panic_before + sizes.panic_down + sizes.panic_after
    table = Table(
        f"3 of 4 hosts refuse connections for {sizes.panic_down:.0f} s, then "
        "recover; GET at 50 tasks (asyncio)",
        [
            "configuration",
            "calls",
            "failed",
            "survivor's requests/s before",
            "… while 3 are down",
            "its share of attempts then",
            "recovery: time until the others take half the requests",
        ],
    )
    series: dict[str, Any] = {}
    figures = {}
    for name, options in (
        ("today: no cap, no panic", {"max_ejected": 1.0, "panic": 0.0}),
        ("default: max_ejected=0.5", {}),
        ("panic=0.5 without the cap", {"max_ejected": 1.0, "panic": 0.5}),
    ):
        cluster.reset()
        samples: list[tuple[float, list[int]]] = []
        counts = {"calls": 0, "failed": 0}

        async def run(
            options: dict[str, Any] = options,
            samples: list[tuple[float, list[int]]] = samples,
            counts: dict[str, int] = counts,
        ) -> None:
            async with jsonrest.AsyncResources(hosts, **options) as resources:
                start = time.perf_counter()
                stop = [False]

                async def worker() -> None:
                    while not stop[0]:
                        counts["calls"] += 1
                        try:
                            response = await resources.unicast("GET", PATH)
                            counts["failed"] += response.status != 200
                        except jsonrest.Error:
                            counts["failed"] += 1

                async def control() -> None:
                    await anyio.sleep(sizes.panic_before)
                    for index in (1, 2, 3):
                        cluster.down(index)
                    await anyio.sleep(sizes.panic_down)
                    for index in (1, 2, 3):
                        cluster.up(index)
                    await anyio.sleep(sizes.panic_after)
                    stop[0] = True

                async def sample() -> None:
                    while not stop[0]:
                        stats = resources.stats()
                        samples.append(
                            (
                                time.perf_counter() - start,
                                [stats[h]["requests"] for h in hosts],
                            )
                        )
                        await anyio.sleep(0.1)

                async with anyio.create_task_group() as group:
                    group.start_soon(control)
                    group.start_soon(sample)
                    for _ in range(50):
                        group.start_soon(worker)

        anyio.run(run)
        xs, survivor, rate = [], [], []
        recovered_at = None
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            delta = [b - a for a, b in zip(c0, c1, strict=False)]
            sent = sum(delta) or 1
            xs.append(t1)
            survivor.append(delta[0] / sent)
            rate.append(delta[0] / (t1 - t0))
            back = sizes.panic_before + sizes.panic_down
            if recovered_at is None and t0 >= back and sum(delta[1:]) / sent >= 0.5:
                recovered_at = t0 - back
        down_window = [
            s
            for t, s in zip(xs, survivor, strict=False)
            if sizes.panic_before + 0.3 <= t <= sizes.panic_before + sizes.panic_down
        ]
        share = statistics.mean(down_window) if down_window else float("nan")
        down = sizes.panic_before + 0.3, sizes.panic_before + sizes.panic_down
        during = [r for t, r in zip(xs, rate, strict=False) if down[0] <= t <= down[1]]
        before = [
            r for t, r in zip(xs, rate, strict=False) if 0.3 <= t <= down[0] - 0.3
        ]
        series[name] = (xs, survivor)
        figures[name] = (counts["failed"], recovered_at)
        table.rows.append(
            [
                name,
                counts["calls"],
                counts["failed"],
                statistics.mean(before) if before else float("nan"),
                statistics.mean(during) if during else float("nan"),
                f"{share:.0%}",
                "not within the run"
                if recovered_at is None
                else f"{recovered_at:.1f} s",
            ]
        )
    table.notes.append(
        "The survivor's share counts attempts (a refused attempt fails over at "
        "once, for free: nothing was sent). Recovery is timed from the moment the "
        "three hosts listen again."
    )
    out.tables.append(table)
    out.series["panic"] = series
    failed, recovered = figures["default: max_ejected=0.5"]
    out.targets.append(
        (
            "3 of 4 hosts refuse for 2 s, 50 tasks: calls keep succeeding and the "
            "cluster recovers within the backoff (2 s)",
            f"{failed} calls failed, recovered in "
            + ("–" if recovered is None else f"{recovered:.1f} s")
            + " (today: "
            + f"{figures['today: no cap, no panic'][0]} failed, "
            + (
                "–"
                if figures["today: no cap, no panic"][1] is None
                else f"{figures['today: no cap, no panic'][1]:.1f} s"
            )
            + ")",
            failed == 0 and recovered is not None and recovered <= 2.0,
        )
    )


# Charts -------------------------------------------------------------------


def charts(out: Result, directory: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    if "slow" in out.cdfs:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
        for ax, prefix in zip(axes, ("1 (sync)", "50 tasks (asyncio)"), strict=False):
            for label, times in out.cdfs["slow"].items():
                if label.startswith(prefix):
                    _cdf(ax, times, label.split(": ", 1)[1])
            ax.set_title(f"one slow host of 4, concurrency {prefix}")
        fig.tight_layout()
        fig.savefig(directory / "tail_slow.png")
        plt.close(fig)
        made.append(("slow host latency CDF", "tail_slow.png"))
    if "hedge" in out.cdfs:
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
        for label, times in out.cdfs["hedge"].items():
            _cdf(ax, times, label)
        ax.set_title("every host stalls 1% of requests for 1 s: sequential GETs")
        fig.tight_layout()
        fig.savefig(directory / "tail_hedge.png")
        plt.close(fig)
        made.append(("hedging latency CDF", "tail_hedge.png"))
    if "budget" in out.series:
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
        for label, (xs, amp, _) in out.series["budget"].items():
            ax.plot(xs, amp, "o-", markersize=3, label=label)
        ax.axhline(1.2, color="r", linestyle=":", label="1.2×")
        ax.set_title(
            "Load amplification over time: every host answers 503, then recovers"
        )
        ax.set_xlabel("seconds")
        ax.set_ylabel("requests per call")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(directory / "tail_budget.png")
        plt.close(fig)
        made.append(("retry budget amplification", "tail_budget.png"))
    if "panic" in out.series:
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
        for label, (xs, share) in out.series["panic"].items():
            ax.plot(xs, share, "-", label=label)
        ax.set_title("3 of 4 hosts refuse, then recover: the survivor's share")
        ax.set_xlabel("seconds")
        ax.set_ylabel("share of attempts on the survivor")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(directory / "tail_panic.png")
        plt.close(fig)
        made.append(("cap and panic", "tail_panic.png"))
    return made


def _cdf(ax: Any, times: Sequence[float], label: str) -> None:
    ordered = sorted(times)
    n = len(ordered)
    ax.plot(ordered, [(i + 1) / n for i in range(n)], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log)")
    ax.set_ylabel("share of calls at most this long")
    ax.set_ylim(0.9, 1.0005)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


SCENARIOS: dict[str, Callable[[ControlledCluster, Sizes, Result], None]] = {
    "slow": slow_host,
    "stalls": stalls,
    "quorum": quorum,
    "budget": budget,
    "failing": one_failing,
    "proxy": proxy,
    "panic": panic,
}


def measure(
    sizes: Sizes, only: Sequence[str] = (), log: Callable[[str], None] = print
) -> Result:
    """Run every scenario (or `only` those) against one controlled cluster."""
    out = Result()
    with ControlledCluster(8) as cluster:
        for name, scenario in SCENARIOS.items():
            if only and name not in only:
                continue
            log(f"part tail: {name}")
            scenario(cluster, sizes, out)
    return out
