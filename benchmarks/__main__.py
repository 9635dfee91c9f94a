"""Run every benchmark part and write RESULTS.md and the charts.

python -m benchmarks            # the full run (about 9 minutes on 2 cores)
python -m benchmarks --quick    # a smoke run of every part (under a minute,
                                # no profiles), written to a temporary directory
python -m benchmarks --parts tail   # tail tolerance alone: its section of
                                    # RESULTS.md is replaced, the rest kept
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import (
    ceilings,
    cover,
    discovery,
    fanout,
    overhead,
    peers,
    profiles,
    selection,
    tail,
    telemetry,
)
from .harness import Table, Watchdog, chart, load_average
from .servers import ClosedPort, DelayCluster, StaticCluster, stop_all

HERE = Path(__file__).resolve().parent
PACKAGES = [
    "jsonrest",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "trio",
    "requests",
    "urllib3",
    "aiohttp",
    "httpx-aiohttp",
    "elastic-transport",
    "matplotlib",
    "pyinstrument",
]
PARTS = ("1", "2", "3", "4", "5", "6", "7", "tail")
#: Markers around the tail part's section, so that running it alone replaces
#: that section of RESULTS.md and keeps the rest.
TAIL_BEGIN, TAIL_END = "<!-- tail: begin -->", "<!-- tail: end -->"
CHARTS = (
    ("fan-out", "fanout.png"),
    ("selection", "selection.png"),
    ("cover", "cover.png"),
    ("naive cover", "cover_naive.png"),
)


@dataclass
class Settings:
    """Sizes of one run: counts of requests, rounds, hosts, keys."""

    cpu: tuple[int, int] = (2000, 7)  # requests per round, rounds
    conc1: tuple[int, int] = (200, 75)  # the 5% target needs a tight median
    sync: tuple[int, int] = (200, 25)
    async_: tuple[int, int] = (1000, 9)  # raw httpx at 50 tasks varies by 1.5x
    tasks: int = 50
    peers: tuple[int, int] = (2000, 5)
    ceiling_sync: tuple[int, int] = (2000, 7)
    ceiling_async: tuple[int, int] = (2000, 7)
    dead: int = 2000
    fan_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])
    fan_count: int = 9
    sequential_up_to: int = 64
    choice_sizes: list[int] = field(default_factory=lambda: [10, 100, 1000])
    choice_number: int = 20000
    cover_hosts: list[int] = field(default_factory=lambda: [10, 100, 1000])
    cover_keys: list[int] = field(
        default_factory=lambda: [10, 100, 1_000, 10_000, 100_000]
    )
    cover_repeat: int = 3
    naive_limit: float = 10.0
    discovery: tuple[int, int] = (10_000, 3)  # calls per round, rounds
    profile_scale: float = 1.0
    time_limit: float = 40 * 60
    tail: tail.Sizes = field(default_factory=tail.Sizes)


QUICK = Settings(
    cpu=(200, 3),
    conc1=(100, 4),
    sync=(100, 3),
    async_=(200, 2),
    peers=(200, 2),
    ceiling_sync=(200, 2),
    ceiling_async=(200, 2),
    dead=200,
    fan_sizes=[1, 4, 16, 64],
    fan_count=3,
    sequential_up_to=4,
    choice_number=2000,
    cover_hosts=[10, 100],
    cover_keys=[10, 1_000, 10_000],
    cover_repeat=1,
    naive_limit=1.0,
    discovery=(2000, 1),
    profile_scale=0.1,
    time_limit=8 * 60,
    tail=tail.QUICK,
)


@dataclass
class Target:
    """One target of the issue: what, the figure measured, met or not."""

    name: str
    figure: str
    met: bool | None  # None: not measured in this run
    profile: str = ""


@dataclass
class Run:
    """Everything one run produces, in the order RESULTS.md shows it."""

    settings: Settings
    sections: list[tuple[str, list[Table]]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    #: The tail part's section, written between its markers (see `write`).
    tail: str = ""
    notes: list[str] = field(default_factory=list)
    server: str = ""
    profiling: bool = True
    started: float = field(default_factory=time.perf_counter)

    def log(self, what: str) -> None:
        print(
            f"[{time.perf_counter() - self.started:5.0f} s, load {load_average()}] {what}",
            flush=True,
        )

    def target(
        self,
        name: str,
        figure: str,
        met: bool | None,
        scenario: str = "",
        **kwargs: Any,
    ) -> None:
        """Record a target; profile `scenario` (of `profiles`) when it is missed."""
        profile = ""
        if met is False and scenario and self.profiling:
            self.log(f"profiling: {name}")
            try:
                profile = profiles.profile(scenario, **kwargs)
            except Exception as exc:  # a profile must not lose the results
                profile = f"(profiling failed: {exc!r})"
        self.targets.append(Target(name, figure, met, profile))


def _versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _scaled(n: float, settings: Settings) -> int:
    return max(1, int(n * settings.profile_scale))


# Parts ------------------------------------------------------------------


def part_overhead(run: Run, static: StaticCluster) -> None:
    s = run.settings
    hosts = static.hosts
    run.log("part 1: CPU cost with a mock transport")
    cpu_table, cpu = overhead.cpu_cost(*s.cpu)
    run.log("part 1: telemetry, off against on")
    tel, _ = telemetry.table(*s.cpu)
    run.log("part 1: concurrency 1")
    conc1, c1 = overhead.concurrency_one(hosts, *s.conc1)
    run.log("part 1: sync clients")
    sync, _ = overhead.sync_overhead(hosts, *s.sync)
    run.log("part 1: async clients, asyncio")
    aio, a = overhead.async_throughput(hosts, *s.async_, s.tasks, "asyncio")
    run.log("part 1: async clients, trio")
    tri, t = overhead.async_throughput(hosts, *s.async_, s.tasks, "trio")
    run.sections.append(
        ("1. Per-request overhead", [conc1, cpu_table, tel, sync, aio, tri])
    )

    sync_pct = c1["Resource.get vs httpx.Client"]
    run.target(
        "jsonrest adds at most 5% to raw httpx per request, one host, sync, concurrency 1",
        f"Resource.get {sync_pct:+.1f}% vs httpx.Client",
        sync_pct <= 5,
        "sync_get",
        host=hosts[0],
        n=_scaled(10000, s),
    )
    for backend in ("asyncio", "trio"):
        pct = c1[f"AsyncResource.get vs httpx.AsyncClient ({backend})"]
        run.target(
            f"… async ({backend}), concurrency 1",
            f"AsyncResource.get {pct:+.1f}% vs httpx.AsyncClient",
            pct <= 5,
            "async_get",
            host=hosts[0],
            n=_scaled(6000, s),
            backend=backend,
        )
    count = len(hosts)
    default = a[f"jsonrest.AsyncResources, {count} hosts"]
    caps = {
        cap: a[f"jsonrest.AsyncResources, {count} hosts, max_in_flight={cap}"]
        for cap in overhead.CAPS
    }
    best_cap = max(caps, key=caps.__getitem__)
    trio_caps = {
        cap: t[f"jsonrest.AsyncResources, {count} hosts, max_in_flight={cap}"]
        for cap in overhead.CAPS
    }
    run.target(
        f"AsyncResources over {count} hosts, {s.tasks} tasks: at least 2× one raw "
        "httpx.AsyncClient (asyncio)",
        f"{default:.2f}× by default; {caps[best_cap]:.2f}× with max_in_flight={best_cap} "
        f"(trio: {t[f'jsonrest.AsyncResources, {count} hosts']:.2f}× by default, "
        f"{max(trio_caps.values()):.2f}× at best)",
        default >= 2,
        "async_unicast",
        hosts=hosts,
        n=_scaled(8000, s),
        tasks=s.tasks,
    )
    run.target(
        "#17: sync Resource.get vs raw httpx.Client.get().json(), concurrency 1: "
        "at most 0.80× the time",
        f"{1 + sync_pct / 100:.2f}× the time",
        1 + sync_pct / 100 <= 0.80,
        "sync_get",
        host=hosts[0],
        n=_scaled(10000, s),
    )
    run.target(
        f"#17: asyncio AsyncResources, {count} hosts, {s.tasks} tasks vs one raw "
        "httpx.AsyncClient: at least 3×",
        f"{default:.2f}× ({a['baseline'] * default:,.0f} vs {a['baseline']:,.0f} req/s)",
        default >= 3,
        "async_unicast",
        hosts=hosts,
        n=_scaled(8000, s),
        tasks=s.tasks,
    )
    trio_default = t[f"jsonrest.AsyncResources, {count} hosts"]
    run.target(
        "#17: trio, same: at least 2×",
        f"{trio_default:.2f}× ({t['baseline'] * trio_default:,.0f} vs "
        f"{t['baseline']:,.0f} req/s)",
        trio_default >= 2,
        "async_unicast",
        hosts=hosts,
        n=_scaled(8000, s),
        tasks=s.tasks,
        backend="trio",
    )
    mock_us = cpu["sync µs: jsonrest.Resources.unicast()() over 4 hosts"]
    run.target(
        "#17: CPU per call with no network (MockTransport), sync "
        "Resources.unicast()() over 4 hosts: at most 60 µs",
        f"{mock_us:.1f} µs (raw httpx.Client get().json(): "
        f"{cpu['sync µs: httpx.Client get().json()']:.1f} µs)",
        mock_us <= 60,
        "mock_unicast",
        n=_scaled(20000, s),
    )
    fast = a[f"jsonrest.AsyncResources, {count} hosts, httpx-aiohttp"]
    ceiling = a["httpx.AsyncClient + httpx-aiohttp, 1 host"]
    run.target(
        "… at least 5× with the optional fast transport",
        f"{fast:.2f}× with httpx-aiohttp (raw httpx + httpx-aiohttp, one host: "
        f"{ceiling:.2f}×; aiohttp alone: {a['aiohttp.ClientSession, 1 host']:.2f}×)",
        fast >= 5,
        "async_unicast",
        hosts=hosts,
        n=_scaled(20000, s),
        tasks=s.tasks,
        fast=True,
    )


def part_peers(run: Run, static: StaticCluster) -> None:
    s = run.settings
    run.log("part 2: elastic-transport")
    with ClosedPort() as dead:
        tables, d = peers.compare(
            static.hosts, dead.host, *s.peers, s.tasks, s.dead, cap=2
        )
    run.sections.append(
        ("2. The peer that does the same job: elastic-transport", tables)
    )
    ours = d[f"sync rate: {peers.OURS_SYNC}"]
    theirs = d[f"sync rate: {peers.ET_HTTPX}"]
    run.target(
        "Resources.unicast throughput at least elastic-transport's on the same "
        "HTTP library (httpx), sync",
        f"{ours:,.0f} vs {theirs:,.0f} req/s ({ours / theirs:.2f}×)",
        ours >= theirs,
        "sync_get",
        host=static.hosts[0],
        n=_scaled(10000, s),
    )
    ours = d[f"async rate: {peers.OURS_ASYNC}"]
    theirs = d[f"async rate: {peers.ET_HTTPX_ASYNC}"]
    run.target(
        "… async (asyncio, 50 tasks), httpx",
        f"{ours:,.0f} vs {theirs:,.0f} req/s ({ours / theirs:.2f}×)",
        ours >= theirs,
        "async_unicast",
        hosts=static.hosts,
        n=_scaled(8000, s),
        tasks=s.tasks,
    )
    ours = d[f"sync rate: {peers.OURS_SYNC}"]
    theirs = d["sync rate: elastic-transport, urllib3 node"]
    run.target(
        "#17: sync Resources.unicast()() over 4 hosts vs elastic-transport's "
        "urllib3 node, sequential: at least 1.0×",
        f"{ours:,.0f} vs {theirs:,.0f} req/s ({ours / theirs:.2f}×)",
        ours >= theirs,
        "sync_unicast",
        hosts=static.hosts,
        n=_scaled(10000, s),
    )
    ours = d[f"async rate: {peers.OURS_FAST}"]
    theirs = d[f"async rate: {peers.ET_AIOHTTP}"]
    run.target(
        f"#17: asyncio AsyncResources with jsonrest[fast] vs elastic-transport's "
        f"aiohttp node, 4 hosts, {s.tasks} tasks: at least 1.0×",
        f"{ours:,.0f} vs {theirs:,.0f} req/s ({ours / theirs:.2f}×)",
        ours >= theirs,
        "async_unicast",
        hosts=static.hosts,
        n=_scaled(20000, s),
        tasks=s.tasks,
        fast=True,
    )
    for mode, name in (("sync", peers.OURS_SYNC), ("async", peers.OURS_ASYNC)):
        row = d[f"{mode} dead: {name}"]
        run.target(
            f"{'Resources' if mode == 'sync' else 'AsyncResources'}: p99 with 1 of 4 "
            "hosts down at most 2× the healthy p99",
            f"{row[4]:.2f} ms vs {row[2]:.2f} ms ({row[5]:.2f}×), {row[6]} errors",
            row[5] <= 2 and row[6] == 0,
        )


def part_ceilings(run: Run, static: StaticCluster) -> None:
    s = run.settings
    run.log("part 7: ceilings, httpx's transports driven bare")
    tables, data = ceilings.measure(
        static.hosts, s.ceiling_sync, s.ceiling_async, s.tasks
    )
    run.sections.append(
        (
            "7. Ceilings: httpx's transports driven bare",
            [ceilings.summary(data), *tables],
        )
    )


def part_fanout(run: Run, out: Path) -> None:
    s = run.settings
    run.log("part 3: broadcast fan-out")
    with DelayCluster(max(s.fan_sizes), 0.05) as slow:
        tables, series = fanout.measure(
            slow.hosts, s.fan_sizes, s.fan_count, 0.05, s.sequential_up_to
        )
        size = max(s.fan_sizes)
        raw = series["raw httpx"][-1]
        for mode in fanout.MODES:
            ratio = series[mode][-1] / 50
            run.target(
                f"broadcast to {size} hosts answering in 50 ms within 1.5× of 50 ms ({mode})",
                f"{series[mode][-1]:.1f} ms ({ratio:.2f}×); raw httpx fan-out on "
                f"asyncio: {raw:.1f} ms ({raw / 50:.2f}×)",
                ratio <= 1.5,
                "broadcast" if mode in ("sync", "asyncio", "trio") else "",
                hosts=slow.hosts[:size],
                n=_scaled(60, s),
                mode=mode,
            )
        asyncio = series["asyncio"][-1]
        bare = series["bare asyncio"][-1]
        run.target(
            f"#17: broadcast to {size} hosts answering in 50 ms, asyncio: "
            "at most 1.3× of 50 ms",
            f"{asyncio:.1f} ms ({asyncio / 50:.2f}×); ceiling, bare httpx "
            f"transports on asyncio: {bare:.1f} ms ({bare / 50:.2f}×); raw httpx "
            f"fan-out: {raw:.1f} ms ({raw / 50:.2f}×)",
            asyncio / 50 <= 1.3,
            "broadcast",
            hosts=slow.hosts[:size],
            n=_scaled(60, s),
            mode="asyncio",
        )
    run.sections.append(("3. Broadcast fan-out", tables))
    sizes = s.fan_sizes
    chart(
        out / "fanout.png",
        "Broadcast to N hosts, each answering after 50 ms",
        "hosts (N)",
        "wall ms per broadcast (log)",
        sizes,
        {
            **{mode: series[mode] for mode in fanout.MODES},
            "raw httpx + task group (asyncio)": series["raw httpx"],
            "ceiling: bare transports (asyncio)": series["bare asyncio"],
            "sequential httpx loop": series["sequential"],
            "ideal": [50.0] * len(sizes),
            "1.5× ideal (target)": [75.0] * len(sizes),
        },
        log="xy",
        styles={"ideal": "k--", "1.5× ideal (target)": "r:"},
    )


def part_selection(run: Run, out: Path) -> None:
    s = run.settings
    run.log("part 4: selection")
    table, series = selection.measure(s.choice_sizes, s.choice_number)
    run.sections.append(("4. Selection cost", [table]))
    at = max(s.choice_sizes)
    worst = max(series[k][-1] for k in ("all up", "10% down", "override"))
    run.target(
        f"choice() at {at:,} hosts under 50 µs",
        f"{series['all up'][-1]:.2f} µs all up, {worst:.2f} µs at worst",
        worst < 50,
    )
    chart(
        out / "selection.png",
        "choice() cost against hosts",
        "hosts",
        "µs per call",
        series["N"],
        {k: v for k, v in series.items() if k != "N"},
        log="x",
    )


def part_discovery(run: Run) -> None:
    calls, rounds = run.settings.discovery
    run.log("part 6: discovery refreshes under calls")
    table, added = discovery.measure(calls, rounds, refresh=0.1)
    run.sections.append(("6. Discovery", [table]))
    worst = max(added.values())
    run.target(
        "a discovery refresh (1,000 hosts, 10% changed) adds at most 1 ms to a "
        "call at p99",
        ", ".join(f"{name} {ms:+.2f} ms" for name, ms in added.items()),
        worst <= 1.0,
    )


def part_cover(run: Run, out: Path) -> None:
    s = run.settings
    run.log("part 5: cover scaling")
    tables, series = cover.scaling(s.cover_hosts, s.cover_keys, s.cover_repeat)
    run.log("part 5: naive enumeration")
    naive, nseries = cover.naive(64, s.naive_limit, s.cover_repeat)
    run.sections.append(("5. Cover for multicast", [*tables, naive]))
    if 100 in s.cover_hosts and 10_000 in s.cover_keys:
        at = s.cover_keys.index(10_000)
        times = {
            f"{kind} R={r}": series[f"100 hosts, {kind} R={r}"][at]
            for kind, r in cover.COMBOS
        }
        worst = max(times, key=times.__getitem__)
        run.target(
            "a cover of 10,000 keys on 100 hosts under 20 ms",
            ", ".join(f"{k} {v:.1f} ms" for k, v in times.items()),
            times[worst] < 20,
            "cover",
            keys=10_000,
            hosts=100,
            replicas=int(worst[-1]),
            kind=worst.split()[0],
            n=_scaled(30, s),
        )
    keys = s.cover_keys
    styles = {}
    lines = {}
    for hosts in s.cover_hosts:
        if hosts in (100, 1000):
            for kind, r in cover.COMBOS:
                label = f"{hosts} hosts, {kind} R={r}"
                lines[label] = series[label]
                styles[label] = "o-" if hosts == 100 else "s--"
    lines["20 ms (target at 10,000 keys, 100 hosts)"] = [20.0] * len(keys)
    styles["20 ms (target at 10,000 keys, 100 hosts)"] = "r:"
    chart(
        out / "cover.png",
        "minimal_cover time against keys",
        "keys",
        "ms per cover (median)",
        keys,
        lines,
        log="xy",
        styles=styles,
    )
    _naive_chart(out / "cover_naive.png", nseries, s.naive_limit)


def part_tail(run: Run, out: Path) -> None:
    run.log("part tail: tail tolerance")
    result = tail.measure(run.settings.tail, log=run.log)
    charts = tail.charts(result, out)
    targets = [Target(name, figure, met) for name, figure, met in result.targets]
    lines = [
        TAIL_BEGIN,
        "## 8. Tail tolerance (part `tail`)",
        "",
        f"Measured on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load "
        f"average (1 min) {load_average()} at the end"
        + (" — **a QUICK smoke run**" if run.settings is QUICK else "")
        + ". Servers: one Python asyncio process on 127.0.0.1 whose ports the "
        "run slows, fails, refuses and restores while it runs "
        "(`benchmarks.servers.ControlledCluster`). Every row of a table ran in "
        "this run; 'today' is the code before tail tolerance (in-flight counts "
        "alone, no budget, no ejection, no cap).",
        "",
        "Charts: " + ", ".join(f"[{label}]({name})" for label, name in charts) + ".",
        "",
        headline(targets),
        *[table.markdown() for table in result.tables],
        *(f"- {note}" for note in result.notes),
        TAIL_END,
    ]
    run.tail = "\n".join(lines).rstrip() + "\n"
    run.targets += targets


def _splice_tail(path: Path, section: str) -> None:
    """Put the tail section into RESULTS.md in place of the one there."""
    text = path.read_text() if path.exists() else "# jsonrest benchmarks\n"
    if TAIL_BEGIN in text and TAIL_END in text:
        head, rest = text.split(TAIL_BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(TAIL_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def _naive_chart(path: Path, nseries: dict[str, Any], limit: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for label, (xs, ys) in nseries.items():
        ax.plot(
            xs,
            ys,
            "o-" if label.startswith("naive") else "s--",
            label=label,
            markersize=4,
        )
    ax.axhline(limit * 1000, color="r", linestyle=":", label=f"{limit:.0f} s limit")
    ax.set_yscale("log")
    ax.set_title("Naive enumeration against minimal_cover (64 hosts, random placement)")
    ax.set_xlabel("keys")
    ax.set_ylabel("ms per cover (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# Results ----------------------------------------------------------------


def _status(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def headline(targets: list[Target]) -> str:
    """The targets as one markdown table (the README shows it)."""
    lines = ["| target | measured | status |", "|---|---|---|"]
    lines += [f"| {t.name} | {t.figure} | {_status(t.met)} |" for t in targets]
    return "\n".join(lines) + "\n"


def write(run: Run, out: Path, quick: bool, parts: list[str], load_start: str) -> Path:
    if parts == ["tail"]:
        path = out / "RESULTS.md"
        _splice_tail(path, run.tail)
        return path
    command = "nox -s bench" + (" -- --quick" if quick else "")
    elapsed = time.perf_counter() - run.started
    lines = [
        "# jsonrest benchmarks",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        + (" — **a QUICK smoke run: few rounds, not for comparison**" if quick else "")
        + ".",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
        "client and servers share these cores, so trust ratios more than absolute times.",
        f"- Load average (1 min) at the start: {load_start}, at the end: {load_average()} "
        "(above about 1 something else was competing for the cores).",
        f"- Python {sys.version.split()[0]} ({platform.python_implementation()})",
        f"- Static JSON server: {run.server or 'not used'}",
        "- Delayed server (part 3): a Python asyncio server in its own process, "
        "answering after 50 ms.",
        f"- Packages: {_versions()}",
        "- Figures are medians over rounds, with their spread (min–max); ratios are "
        "against the baseline measured in the same run.",
        f"- Parts run: {', '.join(parts)}; total run time: {elapsed:.0f} s.",
        *(f"- {note}" for note in run.notes),
        "",
        "Charts: "
        + ", ".join(
            f"[{label}]({name})" for label, name in CHARTS if (out / name).exists()
        )
        + ".",
        "",
        "## Targets",
        "",
        headline(run.targets),
    ]
    for heading, tables in run.sections:
        lines += [f"## {heading}", ""]
        lines += [table.markdown() for table in tables]
    if run.tail:
        lines += [run.tail]
    missed = [t for t in run.targets if t.profile]
    if missed:
        lines += [
            "## Profiles of the missed targets",
            "",
            "Each profile names its sampler on its first line (py-spy, or "
            "pyinstrument where py-spy is missing); self time is time spent in "
            "the function itself, not in what it calls.",
            "",
        ]
        for t in missed:
            lines += [
                f"### {t.name}",
                "",
                f"Measured: {t.figure}.",
                "",
                "```",
                t.profile,
                "```",
                "",
            ]
    path = out / "RESULTS.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def _wait_quiet(seconds: float) -> None:
    """Wait (bounded) until nothing else seems to be using the cores."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            load = os.getloadavg()[0]
        except OSError:
            return
        if load < 0.6:
            return
        print(f"waiting for a quiet machine: load {load:.2f}", flush=True)
        time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for RESULTS.md and the charts "
        "(default: benchmarks/, or a temporary directory with --quick)",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated parts to run (1-7, tail)",
    )
    parser.add_argument(
        "--python-server", action="store_true", help="serve with Python, not nginx"
    )
    parser.add_argument(
        "--profiles",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="profile the scenarios of missed targets (default: on, off with --quick)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the load average to fall below 0.6",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="run `python -m benchmarks.smoke` instead"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        from .smoke import main as smoke

        return smoke([])
    if args.wait_quiet:
        _wait_quiet(args.wait_quiet)
    quick = args.quick
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        parser.error(f"unknown parts: {sorted(set(parts) - set(PARTS))}")
    out: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="jsonrest-bench-quick-")) if quick else HERE
    )
    out.mkdir(parents=True, exist_ok=True)
    settings = QUICK if quick else Settings()
    # Failovers log warnings by design; the benchmark counts errors itself.
    logging.getLogger("jsonrest").setLevel(logging.ERROR)
    run = Run(settings)
    run.profiling = not quick if args.profiles is None else args.profiles
    load_start = load_average()
    # Stopped from outside: unwind, so that every server is stopped on the way.
    signal.signal(signal.SIGTERM, _terminated)
    with Watchdog(settings.time_limit, stop_all):
        try:
            if {"1", "2", "7"} & set(parts):
                with StaticCluster(4, force_python=args.python_server) as static:
                    run.server = static.description
                    if "1" in parts:
                        part_overhead(run, static)
                    if "2" in parts:
                        part_peers(run, static)
                    if "7" in parts:
                        part_ceilings(run, static)
            if "3" in parts:
                part_fanout(run, out)
            if "4" in parts:
                part_selection(run, out)
            if "5" in parts:
                part_cover(run, out)
            if "6" in parts:
                part_discovery(run)
            if "tail" in parts:
                part_tail(run, out)
        finally:
            stop_all()
    path = write(run, out, quick, parts, load_start)
    run.log(f"wrote {path}")
    print()
    print(headline(run.targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
