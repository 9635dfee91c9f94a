"""Run every benchmark part and write benchmarks/RESULTS.md and the charts.

python -m benchmarks            # the full run (about 10 minutes on 2 cores)
python -m benchmarks --quick    # a smoke run of every part (about a minute)
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from . import cover, fanout, overhead, peers, selection
from .harness import Table
from .servers import ClosedPort, DelayCluster, StaticCluster

HERE = Path(__file__).resolve().parent
PACKAGES = [
    "jsonrest",
    "httpx",
    "httpcore",
    "anyio",
    "trio",
    "requests",
    "urllib3",
    "aiohttp",
    "httpx-aiohttp",
    "elastic-transport",
    "matplotlib",
]


def _versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _chart(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    x: list[Any],
    series: dict[str, list[float]],
    log: bool = False,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, values in series.items():
        ax.plot(x, values, marker="o", label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    quick = args.quick
    logging.getLogger("jsonrest").setLevel(
        logging.ERROR
    )  # failover warnings are expected
    started = time.perf_counter()
    sections: list[tuple[str, list[Table]]] = []

    n, count = (300, 2) if quick else (2000, 5)
    with StaticCluster(4) as static:
        server = static.version
        sections.append(
            (
                "1. Per-request overhead",
                [
                    overhead.concurrency_one(static.hosts, n, count),
                    overhead.sync_overhead(static.hosts, n, count),
                    overhead.async_throughput(static.hosts, n, count, 50, "asyncio"),
                    overhead.async_throughput(static.hosts, n, count, 50, "trio"),
                ],
            )
        )
        print(f"part 1 done at {time.perf_counter() - started:.0f} s", flush=True)
        dead = ClosedPort()
        try:
            sections.append(
                (
                    "2. The peer that does the same job: elastic-transport",
                    peers.compare(
                        static.hosts,
                        dead.host,
                        400 if quick else 2000,
                        2 if quick else 3,
                        50,
                    ),
                )
            )
        finally:
            dead.stop()
        print(f"part 2 done at {time.perf_counter() - started:.0f} s", flush=True)

    sizes = [1, 2, 4, 8, 16, 32, 64]
    with DelayCluster(64, 0.05) as slow:
        table, fan = fanout.measure(slow.hosts, sizes, 3 if quick else 9, 0.05)
    sections.append(("3. Broadcast fan-out", [table]))
    _chart(
        HERE / "fanout.png",
        "Broadcast to N hosts answering after 50 ms",
        "hosts (N)",
        "wall ms per broadcast",
        sizes,
        {
            "sync Resources": fan["sync"],
            "AsyncResources (asyncio)": fan["asyncio"],
            "AsyncResources (trio)": fan["trio"],
            "ideal": [50.0] * len(sizes),
        },
    )
    print(f"part 3 done at {time.perf_counter() - started:.0f} s", flush=True)

    table, sel = selection.measure([10, 100, 1000], 2000 if quick else 20000)
    sections.append(("4. Selection cost", [table]))
    _chart(
        HERE / "selection.png",
        "choice() cost",
        "hosts",
        "µs per call",
        sel["N"],
        {k: v for k, v in sel.items() if k != "N"},
    )
    print(f"part 4 done at {time.perf_counter() - started:.0f} s", flush=True)

    tables, cov = cover.measure(quick)
    sections.append(("5. Cover for multicast", tables))
    _chart(
        HERE / "cover.png",
        "minimal_cover time against keys (100 hosts)",
        "keys",
        "ms (best of 3)",
        cov["keys"],
        {k: v for k, v in cov.items() if k != "keys"},
        log=True,
    )
    print(f"part 5 done at {time.perf_counter() - started:.0f} s", flush=True)

    lines = [
        "# jsonrest benchmarks",
        "",
        f"Written by `{'nox -s bench -- --quick' if quick else 'nox -s bench'}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"{' (QUICK smoke run: few rounds, not for comparison)' if quick else ''}.",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
        "client and servers share these cores, so trust ratios more than absolute times.",
        f"- Python {sys.version.split()[0]} ({platform.python_implementation()})",
        f"- Static JSON server: {server} (one worker), "
        "an 80-byte JSON body over keep-alive connections.",
        f"- Packages: {_versions()}",
        "- Every figure is the median over rounds with its spread (min–max); ratios are "
        "against the baseline measured in the same run.",
        f"- Total run time: {time.perf_counter() - started:.0f} s.",
        "",
        "Charts: [fan-out](fanout.png), [selection](selection.png), [cover](cover.png).",
        "",
    ]
    for heading, tables in sections:
        lines += [f"## {heading}", ""]
        lines += [table.markdown() for table in tables]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
