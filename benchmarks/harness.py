"""Measuring in rounds, summarising, rendering tables and charts, a watchdog."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    """One results table: a title, column names, rows, and notes under it."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append(
            "|"
            + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns)))
            + "|"
        )
        for row in self.rows:
            lines.append("| " + " | ".join(cell(v) for v in row) + " |")
        lines += [""] + [f"{note}  " for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def cell(value: Any) -> str:
    """A figure with as many digits as it deserves."""
    if isinstance(value, float):
        if value != value:  # NaN: not measured
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


@dataclass
class Summary:
    """Median and spread (min to max) of a metric over rounds."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> str:
        return f"{cell(min(self.values))}–{cell(max(self.values))}"


def ratio_summary(mine: Summary, theirs: Summary) -> Summary:
    """Per-round ratios of two metrics measured in the same rounds."""
    return Summary([a / b for a, b in zip(mine.values, theirs.values, strict=True)])


def timed_us(call: Callable[[], Any], n: int) -> float:
    """Microseconds per call of `call`, over `n` calls."""
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


def interleaved(
    calls: dict[str, Callable[[], Any]], n: int, count: int
) -> dict[str, Summary]:
    """µs per call of each of `calls`, in `count` short rounds of `n` calls.

    Every round runs every call, in an order rotated from round to round, so a
    slow patch of the machine (another process, a frequency change) falls on
    all of them alike instead of on whichever ran then.
    """
    names = list(calls)
    for name in names:  # warm-up: connections, caches
        timed_us(calls[name], max(n // 4, 10))
    values: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        order = names[i % len(names) :] + names[: i % len(names)]
        if i % 2:
            order.reverse()
        for name in order:
            values[name].append(timed_us(calls[name], n))
    return {name: Summary(v) for name, v in values.items()}


def load_average() -> str:
    """The 1-minute load average, to show whether something else was running."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def chart(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    x: Sequence[Any],
    series: dict[str, Sequence[float]],
    log: str = "",
    styles: dict[str, str] | None = None,
) -> None:
    """A line chart of `series` against `x`, written to `path` as a PNG.

    `log` names the axes on a log scale ("x", "y" or "xy"); a NaN value leaves
    a gap in its line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for label, values in series.items():
        style = (styles or {}).get(label, "o-")
        ax.plot(list(x), list(values), style, label=label, markersize=4)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if "x" in log:
        ax.set_xscale("log")
    if "y" in log:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


class Watchdog:
    """Ends the whole run if it takes longer than `seconds`.

    A load loop that hangs (a server that stopped answering, a client without
    a timeout) must not keep the machine busy: past the limit the servers are
    stopped and the process exits with status 3.
    """

    def __init__(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        self.seconds = seconds
        self._on_expiry = on_expiry
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        print(f"benchmark run passed {self.seconds:.0f} s: stopping", flush=True)
        try:
            self._on_expiry()
        finally:
            os._exit(3)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
