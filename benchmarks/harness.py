"""Measuring in rounds, summarising, and rendering tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
            lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
        lines += [""] + [f"{note}  " for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
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
        return f"{_cell(min(self.values))}–{_cell(max(self.values))}"


def rounds(run: Callable[[], float], count: int, warmup: int = 1) -> Summary:
    """Call `run` (returning one figure) `warmup` times unmeasured, then `count` times."""
    for _ in range(warmup):
        run()
    return Summary([run() for _ in range(count)])


def per_call_us(call: Callable[[], Any], n: int) -> float:
    """Microseconds per call of `call`, over `n` calls."""
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6
